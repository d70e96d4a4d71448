# Built and post-trained backbones: build steps (kit.registry.BuildStep), one folder per spec, named by its hash.


rule build_backbone:
    input:
        unpack(step_inputs("build_backbone")),
    output:
        **step_outputs("build_backbone"),
    log:
        step_log("build_backbone"),
    priority: BUILD_PRIORITY
    conda:
        "../env.yaml"
    params:
        # Its identity is the folder's name: the hash of the spec's identity.
        settings=step_settings("build_backbone"),
    shell:
        "python -m kit build-backbone --settings-json {params.settings:q} --texts {input.texts:q}"
        " --out-backbone {output.backbone:q} --log {log:q}"


rule post_train:
    input:
        unpack(step_inputs("post_train")),
    output:
        **step_outputs("post_train"),
    log:
        step_log("post_train"),
    priority: BUILD_PRIORITY
    conda:
        "../env.yaml"
    threads: post_train_threads
    resources:
        gpu=post_train_gpus,
    params:
        identity=step_identity("post_train"),
        settings=step_settings("post_train"),
        workdir=layout.checkpoints(
            f"backbones/{layout.post_trained('{backbone_hash}')}"
        ),
    shell:
        "python -m kit post-train --settings-json {params.settings:q} --base-dir {input.base_dir:q}"
        " --corpus {input.corpus:q} --corpus-meta {input.corpus_meta:q} --gpus {resources.gpu} --threads {threads}"
        " --workdir {params.workdir:q} --out-backbone {output.backbone:q} --log {log:q}"


rule fit_fold:
    input:
        unpack(experiment_files),
        unpack(family_inputs),
        folds=layout.FOLDS,
    output:
        npz=layout.fold_file("{model}.{variant}.s{seed}", "{fold}"),
        model=directory(layout.fold_model("{model}.{variant}.s{seed}", "{fold}")),
    log:
        layout.log("fit", "{model}.{variant}.s{seed}.fold{fold}"),
    priority: fold_priority
    conda:
        "../env.yaml"
    threads: model_threads
    resources:
        gpu=model_gpus,
    params:
        identity=config_hash,
        kind=model_kind,
        model=run_only(model_params_json),
        family_inputs=role_paths("family_"),
        variant_kind=variant_kind,
        variant=run_only(variant_settings_json),
        variant_inputs=role_paths("variant_"),
        classes=CLASSES,
        plugins=run_only(plugin_modules),
        workdir=layout.checkpoints("{model}.{variant}.s{seed}/fold{fold}"),
    shell:
        "python -m kit fit-fold --kind {params.kind:q} --params-json {params.model:q}"
        " --inputs {params.family_inputs:q} --train {input.train:q}"
        " --test {input.test:q} --variant-meta {input.meta:q} --pool {input.pool:q}"
        " --variant {wildcards.variant} --variant-kind {params.variant_kind:q} --variant-json {params.variant:q}"
        " --variant-inputs {params.variant_inputs:q} --folds {input.folds:q} --fold {wildcards.fold}"
        " --seed {wildcards.seed} --classes {params.classes:q} --gpus {resources.gpu} --threads {threads}"
        " --workdir {params.workdir:q} --out {output.npz:q} --model-dir {output.model:q}"
        " --config-hash {params.identity} --plugins {params.plugins:q} --log {log:q}"


rule merge_folds:
    input:
        unpack(experiment_files),
        folds_npz=fold_files,
        folds=layout.FOLDS,
    output:
        **layout.artifact_files("{model}.{variant}.s{seed}"),
    log:
        layout.log("merge", "{model}.{variant}.s{seed}"),
    conda:
        "../env.yaml"
    params:
        identity=config_hash,
        kind=model_kind,
        model=run_only(model_params_json),
        variant_kind=variant_kind,
        variant_inputs=role_paths("variant_"),
        classes=CLASSES,
        plugins=run_only(plugin_modules),
    shell:
        "python -m kit merge --fold-files {input.folds_npz:q} --train {input.train:q} --test {input.test:q}"
        " --variant-meta {input.meta:q} --folds {input.folds:q} --classes {params.classes:q}"
        " --name {wildcards.model}.{wildcards.variant}.s{wildcards.seed} --model {wildcards.model}"
        " --kind {params.kind:q} --params-json {params.model:q} --config-hash {params.identity}"
        " --variant {wildcards.variant} --variant-kind {params.variant_kind:q}"
        " --variant-inputs {params.variant_inputs:q} --out-npz {output.npz:q} --out-manifest {output.manifest:q}"
        " --plugins {params.plugins:q} --log {log:q}"


# Which fold models `kit predict` keeps is settled here, after the experiment is merged, so that keep_models, the
# ensembles and the final choice never decide whether a fold job runs: every fold job writes its model, and this
# cheap step prunes those that keep_models leaves out.
rule keep_models:
    input:
        models=fold_model_dirs,
        manifest=layout.artifact_files("{model}.{variant}.s{seed}")["manifest"],
    output:
        layout.retention("{model}.{variant}.s{seed}"),
    log:
        layout.log("keep_models", "{model}.{variant}.s{seed}"),
    conda:
        "../env.yaml"
    params:
        kept=kept,
        mode=CONFIG.keep_models,
    shell:
        "python -m kit keep-models --model-dirs {input.models:q} --kept {params.kept} --keep-models {params.mode}"
        " --out {output:q} --log {log:q}"
