rule build_backbone:
    input:
        expand(f"{INTERIM}/{{split}}.parquet", split=SPLITS),
        train=f"{INTERIM}/train.parquet",
    output:
        "models/backbones/{model}/config.json",
    log:
        "logs/backbone/{model}.log",
    conda:
        "../env.yaml"
    params:
        spec=backbone_spec_json,
        interim=subpath(input.train, parent=True),
        out=subpath(output[0], parent=True),
    shell:
        "python -m kit build-backbone --spec-json {params.spec:q} --interim {params.interim} --out {params.out} --log {log}"


rule fit_fold:
    input:
        variant="data/variants/{variant}/meta.json",
        folds="data/folds.parquet",
        backbone=backbone_input,
    output:
        "oof/{model}.{variant}.s{seed}/fold{fold}.npz",
    log:
        "logs/fit/{model}.{variant}.s{seed}.fold{fold}.log",
    conda:
        "../env.yaml"
    threads: model_threads
    resources:
        gpu=model_gpus,
    params:
        kind=model_kind,
        model=model_params_json,
        backbone=backbone_arg,
        classes=classes_arg(),
        variant_dir=subpath(input.variant, parent=True),
        workdir="checkpoints/{model}.{variant}.s{seed}/fold{fold}",
    shell:
        "python -m kit fit-fold --kind {params.kind} --params-json {params.model:q} {params.backbone}"
        " --variant-dir {params.variant_dir} --folds {input.folds} --fold {wildcards.fold} --seed {wildcards.seed}"
        " --classes {params.classes} --gpus {resources.gpu} --threads {threads} --workdir {params.workdir}"
        " --out {output} --log {log}"


rule merge_folds:
    input:
        folds_npz=fold_files,
        variant="data/variants/{variant}/meta.json",
        folds="data/folds.parquet",
    output:
        npz="oof/{model}.{variant}.s{seed}/oof.npz",
        manifest="oof/{model}.{variant}.s{seed}/manifest.json",
    log:
        "logs/merge/{model}.{variant}.s{seed}.log",
    conda:
        "../env.yaml"
    params:
        kind=model_kind,
        model=model_params_json,
        classes=classes_arg(),
        config_hash=config_hash,
        variant_dir=subpath(input.variant, parent=True),
        out=subpath(output.manifest, parent=True),
    shell:
        "python -m kit merge --fold-files {input.folds_npz} --variant-dir {params.variant_dir} --folds {input.folds}"
        " --classes {params.classes} --name {wildcards.model}.{wildcards.variant}.s{wildcards.seed}"
        " --model {wildcards.model} --kind {params.kind} --params-json {params.model:q}"
        " --config-hash {params.config_hash} --out {params.out} --log {log}"
