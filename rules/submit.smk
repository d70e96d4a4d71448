rule submission:
    input:
        npz="oof/{artifact}/oof.npz",
        manifest="oof/{artifact}/manifest.json",
        test=f"{INTERIM}/test.parquet",
    output:
        csv="subs/{artifact}.csv",
        sidecar="subs/{artifact}.json",
    log:
        "logs/submit/{artifact}.log",
    conda:
        "../env.yaml"
    shell:
        "python -m kit submit --npz {input.npz:q} --manifests {input.manifest:q} --choice {wildcards.artifact}"
        " --test {input.test:q} --out {output.csv:q} --sidecar {output.sidecar:q} --log {log:q}"


rule final_submission:
    input:
        npz=final_candidate_npz,
        manifests=final_candidate_manifests,
        test=f"{INTERIM}/test.parquet",
    output:
        csv="subs/final.csv",
        sidecar="subs/final.json",
    log:
        "logs/submit/final.log",
    conda:
        "../env.yaml"
    params:
        choice=CONFIG.final,
    shell:
        "python -m kit submit --npz {input.npz:q} --manifests {input.manifests:q} --choice {params.choice:q}"
        " --test {input.test:q} --out {output.csv:q} --sidecar {output.sidecar:q} --log {log:q}"
