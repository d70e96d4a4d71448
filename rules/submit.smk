rule submission:
    input:
        manifest="oof/{artifact}/manifest.json",
        npz="oof/{artifact}/oof.npz",
        test=f"{INTERIM}/test.parquet",
    output:
        csv="subs/{artifact}.csv",
        sidecar="subs/{artifact}.json",
    log:
        "logs/submit/{artifact}.log",
    conda:
        "../env.yaml"
    params:
        artifact=subpath(input.manifest, parent=True),
    shell:
        "python -m kit submit --artifacts {params.artifact} --choice {wildcards.artifact} --test {input.test}"
        " --out {output.csv} --log {log}"


rule final_submission:
    input:
        final_candidate_files,
        test=f"{INTERIM}/test.parquet",
    output:
        csv="subs/final.csv",
        sidecar="subs/final.json",
    log:
        "logs/submit/final.log",
    conda:
        "../env.yaml"
    params:
        candidates=final_candidates,
        choice=config["final"],
    shell:
        "python -m kit submit --artifacts {params.candidates} --choice {params.choice} --test {input.test}"
        " --out {output.csv} --log {log}"
