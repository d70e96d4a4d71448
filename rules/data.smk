rule demo_data:
    output:
        train=kit_config.DEMO_FILES["train"],
        test=kit_config.DEMO_FILES["test"],
        unlabeled=kit_config.DEMO_FILES["unlabeled"],
    log:
        layout.log("demo_data"),
    conda:
        "../env.yaml"
    shell:
        "python -m kit demo --train {output.train:q} --test {output.test:q} --unlabeled {output.unlabeled:q}"
        " --log {log:q}"


rule ingest:
    input:
        unpack(competition_files),
    output:
        **interim_outputs(),
        report=layout.REPORT,
    log:
        layout.log("ingest"),
    conda:
        "../env.yaml"
    params:
        classes=CLASSES,
        id_column=CONFIG.columns.id,
        text_column=CONFIG.columns.text,
        label_column=CONFIG.columns.label,
        id_pattern=ID_PATTERN,
        encoding=CONFIG.data.encoding,
        conflicting_text=CONFIG.ingest.conflicting_text,
        out_unlabeled=optional_output("out_unlabeled"),
    shell:
        "python -m kit ingest --train {input.train:q} --test {input.test:q} --unlabeled {input.unlabeled:q}"
        " --classes {params.classes:q} --column-id {params.id_column:q} --column-text {params.text_column:q}"
        " --column-label {params.label_column:q} --column-id-pattern {params.id_pattern:q}"
        " --encoding {params.encoding:q} --conflicting-text {params.conflicting_text:q}"
        " --out-train {output.out_train:q} --out-test {output.out_test:q}"
        " --out-unlabeled {params.out_unlabeled:q} --report {output.report:q} --log {log:q}"


rule variant:
    input:
        unpack(variant_inputs),
    output:
        **variant_outputs(),
    log:
        layout.log("variant", "{variant}"),
    conda:
        "../env.yaml"
    params:
        identity=variant_identity,
        out_pool=optional_output("pool"),
        plugins=run_only(plugin_modules),
    shell:
        "python -m kit variant --name {wildcards.variant} --train {input.train:q} --test {input.test:q}"
        " --pool {input.pool:q} --out-train {output.train:q} --out-test {output.test:q} --meta {output.meta:q}"
        " --out-pool {params.out_pool:q} --plugins {params.plugins:q} --log {log:q}"


rule pool:
    input:
        unpack(pool_inputs),
    output:
        layout.POOL,
    log:
        layout.log("pool"),
    conda:
        "../env.yaml"
    params:
        rows=CONFIG.pool.unlabeled_rows,
        seed=CONFIG.pool.seed,
    shell:
        "python -m kit pool --test {input.test:q} --unlabeled {input.unlabeled:q} --unlabeled-rows {params.rows}"
        " --seed {params.seed} --out {output:q} --log {log:q}"


rule folds:
    input:
        train=layout.interim("train"),
    output:
        layout.FOLDS,
    log:
        layout.log("folds"),
    conda:
        "../env.yaml"
    params:
        k=CONFIG.folds.k,
        seed=CONFIG.folds.seed,
    shell:
        "python -m kit folds --train {input.train:q} --k {params.k} --seed {params.seed} --out {output:q}"
        " --log {log:q}"
