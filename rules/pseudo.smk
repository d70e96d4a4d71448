rule pseudo_rows:
    input:
        unpack(step_inputs("pseudo_rows")),
    output:
        **step_outputs("pseudo_rows"),
    log:
        step_log("pseudo_rows"),
    conda:
        "../env.yaml"
    params:
        identity=step_identity("pseudo_rows"),
        settings=step_settings("pseudo_rows"),
    shell:
        "python -m kit pseudo-rows --name {wildcards.pseudo} --settings-json {params.settings:q}"
        " --teacher-npz {input.teacher_npz:q} --teacher-manifest {input.teacher_manifest:q} --pool {input.pool:q}"
        " --out-rows {output.rows:q} --out-manifest {output.manifest:q} --log {log:q}"
