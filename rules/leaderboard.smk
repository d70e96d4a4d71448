rule cv_vs_lb_figure:
    input:
        lb=leaderboard_log,
    output:
        report(
            "figures/final/cv_vs_lb.png",
            caption="../report/cv_vs_lb.rst",
            category="final submission",
        ),
    log:
        "logs/figures/cv_vs_lb.log",
    conda:
        "../env.yaml"
    shell:
        "python -m kit lb-figure --lb {input.lb:q} --out {output:q} --log {log:q}"
