rule demo_data:
    output:
        train=kit_config.DEMO_FILES["train"],
        test=kit_config.DEMO_FILES["test"],
        unlabeled=kit_config.DEMO_FILES["unlabeled"],
    log:
        "logs/demo_data.log",
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
        report=f"{INTERIM}/report.json",
    log:
        "logs/ingest.log",
    conda:
        "../env.yaml"
    params:
        unlabeled=unlabeled_arg,
        classes=classes_arg(),
        id_column=CONFIG.columns.id,
        text_column=CONFIG.columns.text,
        label_column=CONFIG.columns.label,
        id_pattern=id_pattern_arg(),
        encoding=CONFIG.data.encoding,
        conflicting_text=CONFIG.ingest.conflicting_text,
    shell:
        "python -m kit ingest --train {input.train:q} --test {input.test:q} {params.unlabeled}"
        " --classes {params.classes} --column-id {params.id_column:q} --column-text {params.text_column:q}"
        " --column-label {params.label_column:q} --column-id-pattern {params.id_pattern:q}"
        " --encoding {params.encoding:q} --conflicting-text {params.conflicting_text:q}"
        " --out-train {output.out_train:q} --out-test {output.out_test:q} --report {output.report:q} --log {log:q}"


rule variant:
    input:
        unpack(variant_inputs),
    output:
        **variant_outputs(),
    log:
        "logs/variant/{variant}.log",
    conda:
        "../env.yaml"
    params:
        identity=variant_identity,
        pool=pool_args,
        plugins=run_only(plugins_arg),
    shell:
        "python -m kit variant --name {wildcards.variant} --train {input.train:q} --test {input.test:q}"
        " --out-train {output.train:q} --out-test {output.test:q} --meta {output.meta:q} {params.pool}"
        " {params.plugins} --log {log:q}"


rule pool:
    input:
        unpack(pool_inputs),
    output:
        "data/pool.parquet",
    log:
        "logs/pool.log",
    conda:
        "../env.yaml"
    params:
        unlabeled=pool_unlabeled_arg,
        rows=CONFIG.pool.unlabeled_rows,
        seed=CONFIG.pool.seed,
    shell:
        "python -m kit pool --test {input.test:q} {params.unlabeled} --unlabeled-rows {params.rows}"
        " --seed {params.seed} --out {output:q} --log {log:q}"


rule folds:
    input:
        train=f"{INTERIM}/train.parquet",
    output:
        "data/folds.parquet",
    log:
        "logs/folds.log",
    conda:
        "../env.yaml"
    params:
        k=CONFIG.folds.k,
        seed=CONFIG.folds.seed,
    shell:
        "python -m kit folds --train {input.train:q} --k {params.k} --seed {params.seed} --out {output:q}"
        " --log {log:q}"
