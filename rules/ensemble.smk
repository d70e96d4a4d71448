rule ensemble:
    input:
        ensemble_member_files,
    output:
        npz="oof/ensemble.{ensemble}/oof.npz",
        manifest="oof/ensemble.{ensemble}/manifest.json",
    log:
        "logs/ensemble/{ensemble}.log",
    conda:
        "../env.yaml"
    params:
        spec=ensemble_spec_json,
        members=ensemble_member_dirs,
        out=subpath(output.manifest, parent=True),
    shell:
        "python -m kit ensemble --name ensemble.{wildcards.ensemble} --spec-json {params.spec:q} --members {params.members}"
        " --out {params.out} --log {log}"
