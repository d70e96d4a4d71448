rule pseudo_rows:
    input:
        unpack(teacher_files),
    output:
        **layout.pseudo_files("{pseudo}"),
    log:
        layout.log("pseudo", "{pseudo}"),
    conda:
        "../env.yaml"
    params:
        identity=pseudo_identity,
        settings=run_only(pseudo_settings_json),
    shell:
        "python -m kit pseudo-rows --name {wildcards.pseudo} --settings-json {params.settings:q}"
        " --teacher-npz {input.npz:q} --teacher-manifest {input.manifest:q} --pool {input.pool:q}"
        " --out-rows {output.rows:q} --out-manifest {output.manifest:q} --log {log:q}"
