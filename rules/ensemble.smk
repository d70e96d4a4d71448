rule ensemble:
    input:
        npz=ensemble_member_npz,
        manifests=ensemble_member_manifests,
    output:
        npz="oof/ensemble.{ensemble}/oof.npz",
        manifest="oof/ensemble.{ensemble}/manifest.json",
    log:
        "logs/ensemble/{ensemble}.log",
    conda:
        "../env.yaml"
    params:
        spec=ensemble_spec_json,
        plugins=plugins_arg(),
    shell:
        "python -m kit ensemble --name ensemble.{wildcards.ensemble} --spec-json {params.spec:q}"
        " --member-npz {input.npz:q} --member-manifests {input.manifests:q}"
        " --out-npz {output.npz:q} --out-manifest {output.manifest:q} {params.plugins} --log {log:q}"
