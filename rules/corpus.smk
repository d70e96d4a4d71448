# The corpus for representation learning and the word vectors learnt from it: build steps (kit.registry.BuildStep),
# whose files, logs, settings and identity the step helpers of rules/common.smk read from their declarations. They
# run only when a target needs them (`snakemake data/corpus/corpus.parquet`, or a model that names them as inputs).


rule corpus:
    input:
        unpack(step_inputs("corpus")),
    output:
        **step_outputs("corpus"),
    log:
        step_log("corpus"),
    priority: BUILD_PRIORITY
    conda:
        "../env.yaml"
    threads: 4
    params:
        identity=step_identity("corpus"),
        settings=step_settings("corpus"),
    shell:
        "python -m kit corpus --train {input.train:q} --test {input.test:q} --unlabeled {input.unlabeled:q}"
        " --settings-json {params.settings:q} --threads {threads} --out-corpus {output.corpus:q}"
        " --out-userdict {output.userdict:q} --out-new-words {output.new_words:q} --out-meta {output.meta:q}"
        " --log {log:q}"


rule word_vectors:
    input:
        unpack(step_inputs("word_vectors")),
    output:
        **step_outputs("word_vectors"),
    log:
        step_log("word_vectors"),
    priority: BUILD_PRIORITY
    conda:
        "../env.yaml"
    # One gensim worker: the vectors, and all that is built on them, are the same bytes on every run (several
    # workers update them in an order that varies; `--set-threads word_vectors=4` trades that for speed).
    threads: 1
    params:
        identity=step_identity("word_vectors"),
        settings=step_settings("word_vectors"),
    shell:
        "python -m kit word-vectors --name {wildcards.vectors} --settings-json {params.settings:q}"
        " --corpus {input.corpus:q} --corpus-meta {input.corpus_meta:q} --threads {threads}"
        " --out-vectors {output.vectors:q} --out-meta {output.meta:q} --log {log:q}"
