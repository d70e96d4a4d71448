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
        spec=run_only(scratch_spec_json),  # its identity is the folder's name: the hash of the spec's identity
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
        identity=post_train_identity,
        spec=run_only(post_train_spec_json),
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
        identity=config_hash,
        kind=model_kind,
        model=run_only(model_params_json),
        backbone=backbone_arg,
        inputs=family_inputs_arg,
        classes=classes_arg(),
        plugins=run_only(plugins_arg),
        extra=fold_extra_args,
        workdir="checkpoints/{model}.{variant}.s{seed}/fold{fold}",
    shell:
        "python -m kit fit-fold --kind {params.kind:q} --params-json {params.model:q} {params.backbone} {params.inputs}"
        " --train {input.train:q} --test {input.test:q} --variant-meta {input.meta:q} --folds {input.folds:q}"
        " --fold {wildcards.fold} --seed {wildcards.seed} --classes {params.classes} --gpus {resources.gpu}"
        " --threads {threads} --workdir {params.workdir:q} {params.extra} --out {output.npz:q}"
        " --model-dir {output.model:q} --config-hash {params.identity} {params.plugins} --log {log:q}"


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
        identity=config_hash,
        kind=model_kind,
        model=run_only(model_params_json),
        classes=classes_arg(),
        extra=merge_extra_args,
    shell:
        "python -m kit merge --fold-files {input.folds_npz:q} --train {input.train:q} --test {input.test:q}"
        " --variant-meta {input.meta:q} --folds {input.folds:q} --classes {params.classes}"
        " --name {wildcards.model}.{wildcards.variant}.s{wildcards.seed} --model {wildcards.model}"
        " --kind {params.kind:q} --params-json {params.model:q} --config-hash {params.identity} {params.extra}"
        " --out-npz {output.npz:q} --out-manifest {output.manifest:q} --log {log:q}"


# Which fold models `kit predict` keeps is settled here, after the experiment is merged, so that keep_models, the
# ensembles and the final choice never decide whether a fold job runs: every fold job writes its model, and this
# cheap step prunes those that keep_models leaves out.
rule keep_models:
    input:
        models=fold_model_dirs,
        manifest="oof/{model}.{variant}.s{seed}/manifest.json",
    output:
        "models/folds/{model}.{variant}.s{seed}/retention.json",
    log:
        "logs/keep_models/{model}.{variant}.s{seed}.log",
    conda:
        "../env.yaml"
    params:
        kept=kept_flag,
        mode=CONFIG.keep_models,
    shell:
        "python -m kit keep-models --model-dirs {input.models:q} {params.kept} --keep-models {params.mode}"
        " --out {output:q} --log {log:q}"
