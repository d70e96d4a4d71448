rule track:
    input:
        manifests=all_artifact_manifests,
        figures=all_artifact_figures,
    output:
        "tracking/mlflow.json",
    log:
        "logs/tracking.log",
    conda:
        "../env.yaml"
    params:
        uri=tracking_uri_arg(),
    shell:
        "python -m kit track --manifests {input.manifests:q} --figures {input.figures:q} {params.uri}"
        " --out {output:q} --log {log:q}"
