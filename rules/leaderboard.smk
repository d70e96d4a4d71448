rule cv_vs_lb_figure:
    input:
        lb=leaderboard_log,
    output:
        report(
            layout.final_figure("cv_vs_lb"),
            caption="../report/cv_vs_lb.rst",
            category="final submission",
        ),
    log:
        layout.log("figures", "cv_vs_lb"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit lb-figure --lb {input.lb:q} --out {output:q} --log {log:q}"
