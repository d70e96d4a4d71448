rule ensemble:
    input:
        npz=ensemble_member_npz,
        manifests=ensemble_member_manifests,
    output:
        npz="oof/ensemble.{ensemble}/oof.npz",
        manifest="oof/ensemble.{ensemble}/manifest.json",
        combination="oof/ensemble.{ensemble}/combination.skops",
    log:
        "logs/ensemble/{ensemble}.log",
    conda:
        "../env.yaml"
    params:
        identity=ensemble_identity,
        spec=run_only(ensemble_spec_json),
        plugins=run_only(plugins_arg),
    shell:
        "python -m kit ensemble --name ensemble.{wildcards.ensemble} --spec-json {params.spec:q}"
        " --member-npz {input.npz:q} --member-manifests {input.manifests:q}"
        " --out-npz {output.npz:q} --out-manifest {output.manifest:q} --out-combination {output.combination:q}"
        " {params.plugins} --log {log:q}"
