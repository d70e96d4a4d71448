rule eda_figures:
    input:
        report=layout.REPORT,
        train=variant_split_files("train"),
        test=variant_split_files("test"),
    output:
        classes=report(
            layout.eda_figure("class_counts"),
            caption="../report/eda_classes.rst",
            category="EDA",
        ),
        lengths=report(
            layout.eda_figure("text_lengths"),
            caption="../report/eda_lengths.rst",
            category="EDA",
        ),
        duplicates=report(
            layout.eda_figure("duplicates"),
            caption="../report/eda_duplicates.rst",
            category="EDA",
        ),
    log:
        layout.log("figures", "eda"),
    conda:
        "../env.yaml"
    params:
        variants=text_variants(),
        max_lens=max_lens_json(),
    shell:
        "python -m kit eda-figures --report {input.report:q} --variants {params.variants}"
        " --train-files {input.train:q} --test-files {input.test:q} --max-lens-json {params.max_lens:q}"
        " --out-classes {output.classes:q} --out-lengths {output.lengths:q}"
        " --out-duplicates {output.duplicates:q} --log {log:q}"


rule experiment_figure:
    input:
        **layout.artifact_files("{model}.{variant}.s{seed}"),
    output:
        report(
            layout.artifact_figure("{model}.{variant}.s{seed}"),
            caption="../report/experiment.rst",
            category="experiments",
            subcategory="{model}",
            labels={"experiment": "{model}.{variant}.s{seed}"},
        ),
    log:
        layout.log("figures", "{model}.{variant}.s{seed}"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit artifact-figure --npz {input.npz:q} --manifest {input.manifest:q} --out {output:q}"
        " --log {log:q}"


rule ensemble_figure:
    input:
        **layout.artifact_files("ensemble.{ensemble}"),
    output:
        report(
            layout.artifact_figure("ensemble.{ensemble}"),
            caption="../report/ensemble.rst",
            category="ensembles",
            labels={"ensemble": "{ensemble}"},
        ),
    log:
        layout.log("figures", "ensemble.{ensemble}"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit artifact-figure --npz {input.npz:q} --manifest {input.manifest:q} --out {output:q}"
        " --log {log:q}"


rule final_figure:
    input:
        final=layout.FINAL_SIDECAR,
        manifests=final_candidate_manifests,
        report=layout.REPORT,
    output:
        report(
            layout.final_figure("final"),
            caption="../report/final.rst",
            category="final submission",
        ),
    log:
        layout.log("figures", "final"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit final-figure --final {input.final:q} --manifests {input.manifests:q}"
        " --report {input.report:q} --out {output:q} --log {log:q}"


rule disagreements:
    input:
        final=layout.FINAL_SIDECAR,
        npz=all_artifact_npz,
        manifests=all_artifact_manifests,
        train=layout.interim("train"),
        test=layout.interim("test"),
    output:
        png=report(
            layout.final_figure("disagreements"),
            caption="../report/disagreements.rst",
            category="final submission",
        ),
        csv=report(
            layout.final_figure("disagreements", "csv"),
            caption="../report/disagreements.rst",
            category="final submission",
        ),
    log:
        layout.log("figures", "disagreements"),
    conda:
        "../env.yaml"
    params:
        top=50,
    shell:
        "python -m kit disagreements --final {input.final:q} --npz {input.npz:q} --manifests {input.manifests:q}"
        " --train {input.train:q} --test {input.test:q} --top {params.top} --out-csv {output.csv:q}"
        " --out-png {output.png:q} --log {log:q}"
