rule adversarial:
    input:
        train=layout.variant_files("{variant}")["train"],
        test=layout.variant_files("{variant}")["test"],
    output:
        png=report(
            "figures/adversarial/{variant}.png",
            caption="../report/adversarial.rst",
            category="adversarial validation",
            labels={"variant": "{variant}"},
        ),
        json="figures/adversarial/{variant}.json",
        csv="figures/adversarial/{variant}.test_like.csv",
    log:
        "logs/figures/adversarial.{variant}.log",
    conda:
        "../env.yaml"
    params:
        k=CONFIG.folds.k,
        seed=CONFIG.folds.seed,
    shell:
        "python -m kit adversarial --variant {wildcards.variant} --train {input.train:q} --test {input.test:q}"
        " --k {params.k} --seed {params.seed} --out-png {output.png:q} --out-json {output.json:q}"
        " --out-csv {output.csv:q} --log {log:q}"
