rule ensemble:
    input:
        npz=ensemble_member_npz,
        manifests=ensemble_member_manifests,
    output:
        **layout.artifact_files("ensemble.{ensemble}"),
        combination=layout.combination("{ensemble}"),
    log:
        layout.log("ensemble", "{ensemble}"),
    conda:
        "../env.yaml"
    params:
        identity=ensemble_identity,
        spec=run_only(ensemble_spec_json),
        plugins=run_only(plugin_modules),
    shell:
        "python -m kit ensemble --name ensemble.{wildcards.ensemble} --spec-json {params.spec:q}"
        " --member-npz {input.npz:q} --member-manifests {input.manifests:q}"
        " --out-npz {output.npz:q} --out-manifest {output.manifest:q} --out-combination {output.combination:q}"
        " --plugins {params.plugins:q} --log {log:q}"
