rule submission:
    input:
        **layout.artifact_files("{artifact}"),
        test=layout.interim("test"),
    output:
        **layout.submission("{artifact}"),
    log:
        layout.log("submit", "{artifact}"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit submit --npz {input.npz:q} --manifests {input.manifest:q} --choice {wildcards.artifact}"
        " --test {input.test:q} --out {output.csv:q} --sidecar {output.sidecar:q} --log {log:q}"


rule final_submission:
    input:
        npz=final_candidate_npz,
        manifests=final_candidate_manifests,
        test=layout.interim("test"),
    output:
        **layout.submission("final"),
    log:
        layout.log("submit", "final"),
    conda:
        "../env.yaml"
    params:
        choice=CONFIG.final,
    shell:
        "python -m kit submit --npz {input.npz:q} --manifests {input.manifests:q} --choice {params.choice:q}"
        " --test {input.test:q} --out {output.csv:q} --sidecar {output.sidecar:q} --log {log:q}"
