rule adversarial:
    input:
        train=layout.variant_files("{variant}")["train"],
        test=layout.variant_files("{variant}")["test"],
    output:
        png=report(
            layout.adversarial_files("{variant}")["png"],
            caption="../report/adversarial.rst",
            category="adversarial validation",
            labels={"variant": "{variant}"},
        ),
        json=layout.adversarial_files("{variant}")["json"],
        csv=layout.adversarial_files("{variant}")["csv"],
    log:
        layout.log("figures", "adversarial.{variant}"),
    conda:
        "../env.yaml"
    params:
        k=CONFIG.folds.k,
        seed=CONFIG.folds.seed,
    shell:
        "python -m kit adversarial --variant {wildcards.variant} --train {input.train:q} --test {input.test:q}"
        " --k {params.k} --seed {params.seed} --out-png {output.png:q} --out-json {output.json:q}"
        " --out-csv {output.csv:q} --log {log:q}"
