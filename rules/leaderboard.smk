rule cv_vs_lb_figure:
    input:
        leaderboard_log,
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
    params:
        lb=leaderboard_log_arg,
    shell:
        "python -m kit lb-figure {params.lb} --out {output:q} --log {log:q}"
