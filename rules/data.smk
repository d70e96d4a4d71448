rule demo_data:
    output:
        train=kit_config.DEMO_FILES["train"],
        test=kit_config.DEMO_FILES["test"],
        unlabeled=kit_config.DEMO_FILES["unlabeled"],
    log:
        "logs/demo_data.log",
    conda:
        "../env.yaml"
    params:
        out=subpath(output.train, parent=True),
    shell:
        "python -m kit demo --out {params.out} --log {log}"


rule ingest:
    input:
        unpack(competition_files),
    output:
        expand(f"{INTERIM}/{{split}}.parquet", split=SPLITS),
        report=f"{INTERIM}/report.json",
    log:
        "logs/ingest.log",
    conda:
        "../env.yaml"
    params:
        unlabeled=unlabeled_arg,
        classes=classes_arg(),
        id_column=config["columns"]["id"],
        text_column=config["columns"]["text"],
        label_column=config["columns"]["label"],
        conflicting_text=config["ingest"]["conflicting_text"],
        out=subpath(output.report, parent=True),
    shell:
        "python -m kit ingest --train {input.train:q} --test {input.test:q} {params.unlabeled}"
        " --classes {params.classes} --id-column {params.id_column:q} --text-column {params.text_column:q}"
        " --label-column {params.label_column:q} --conflicting-text {params.conflicting_text}"
        " --out {params.out} --log {log}"


rule variant:
    input:
        train=f"{INTERIM}/train.parquet",
        test=f"{INTERIM}/test.parquet",
    output:
        train="data/variants/{variant}/train.parquet",
        test="data/variants/{variant}/test.parquet",
        meta="data/variants/{variant}/meta.json",
    log:
        "logs/variant/{variant}.log",
    conda:
        "../env.yaml"
    params:
        interim=subpath(input.train, parent=True),
        out=subpath(output.meta, parent=True),
    shell:
        "python -m kit variant --name {wildcards.variant} --interim {params.interim} --out {params.out} --log {log}"


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
        interim=subpath(input.train, parent=True),
        k=config["folds"]["k"],
        seed=config["folds"]["seed"],
    shell:
        "python -m kit folds --interim {params.interim} --k {params.k} --seed {params.seed} --out {output} --log {log}"
