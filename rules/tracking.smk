rule track:
    input:
        manifests=all_artifact_manifests,
        figures=all_artifact_figures,
    output:
        layout.TRACKING,
    log:
        layout.log("tracking"),
    conda:
        "../env.yaml"
    params:
        uri=TRACKING_URI,
    shell:
        "python -m kit track --manifests {input.manifests:q} --figures {input.figures:q} --uri {params.uri:q}"
        " --out {output:q} --log {log:q}"
