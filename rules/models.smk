rule build_backbone:
    input:
        texts=expand(f"{INTERIM}/{{split}}.parquet", split=SPLITS),
    output:
        directory(f"{BACKBONES}/scratch-{{backbone_hash}}"),
    log:
        "logs/backbone/scratch-{backbone_hash}.log",
    conda:
        "../env.yaml"
    params:
        spec=scratch_spec_json,
    shell:
        "python -m kit build-backbone --spec-json {params.spec:q} --texts {input.texts:q} --out {output:q}"
        " --log {log:q}"


rule post_train:
    input:
        corpus="data/corpus/corpus.parquet",
        corpus_meta="data/corpus/meta.json",
        base=post_train_base_input,
    output:
        directory(f"{BACKBONES}/post-{{backbone_hash}}"),
    log:
        "logs/backbone/post-{backbone_hash}.log",
    conda:
        "../env.yaml"
    threads: post_train_threads
    resources:
        gpu=post_train_gpus,
    params:
        spec=post_train_spec_json,
        base=post_train_base_arg,
        workdir="checkpoints/backbones/post-{backbone_hash}",
    shell:
        "python -m kit post-train --spec-json {params.spec:q} {params.base} --corpus {input.corpus:q}"
        " --corpus-meta {input.corpus_meta:q} --gpus {resources.gpu} --threads {threads}"
        " --workdir {params.workdir:q} --out {output:q} --log {log:q}"


rule fit_fold:
    input:
        unpack(experiment_files),
        unpack(family_inputs),
        folds="data/folds.parquet",
        backbone=backbone_input,
    output:
        npz="oof/{model}.{variant}.s{seed}/fold{fold}.npz",
        model=directory("models/folds/{model}.{variant}.s{seed}/fold{fold}"),
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
        inputs=family_inputs_arg,
        classes=classes_arg(),
        plugins=plugins_arg(),
        extra=fold_extra_args,
        workdir="checkpoints/{model}.{variant}.s{seed}/fold{fold}",
        keep=keep_model_arg,
        keep_models=CONFIG.keep_models,
    shell:
        "python -m kit fit-fold --kind {params.kind:q} --params-json {params.model:q} {params.backbone} {params.inputs}"
        " --train {input.train:q} --test {input.test:q} --variant-meta {input.meta:q} --folds {input.folds:q}"
        " --fold {wildcards.fold} --seed {wildcards.seed} --classes {params.classes} --gpus {resources.gpu}"
        " --threads {threads} --workdir {params.workdir:q} {params.extra} --out {output.npz:q}"
        " --model-dir {output.model:q} {params.keep} --keep-models {params.keep_models} {params.plugins}"
        " --log {log:q}"


rule merge_folds:
    input:
        unpack(experiment_files),
        folds_npz=fold_files,
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
        extra=merge_extra_args,
    shell:
        "python -m kit merge --fold-files {input.folds_npz:q} --train {input.train:q} --test {input.test:q}"
        " --variant-meta {input.meta:q} --folds {input.folds:q} --classes {params.classes}"
        " --name {wildcards.model}.{wildcards.variant}.s{wildcards.seed} --model {wildcards.model}"
        " --kind {params.kind:q} --params-json {params.model:q} --config-hash {params.config_hash} {params.extra}"
        " --out-npz {output.npz:q} --out-manifest {output.manifest:q} --log {log:q}"
