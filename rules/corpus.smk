# The corpus for representation learning and the word vectors learnt from it; they run only when a target needs
# them (`snakemake data/corpus/corpus.parquet`, or a model that names them as inputs).


rule corpus:
    input:
        unpack(corpus_inputs),
    output:
        **CORPUS_FILES,
    log:
        layout.log("corpus"),
    conda:
        "../env.yaml"
    threads: 4
    params:
        identity=corpus_identity(),
        settings=run_only(corpus_settings_json),
    shell:
        "python -m kit corpus --train {input.train:q} --test {input.test:q} --unlabeled {input.unlabeled:q}"
        " --settings-json {params.settings:q} --threads {threads} --out-corpus {output.corpus:q}"
        " --out-userdict {output.userdict:q} --out-new-words {output.new_words:q} --out-meta {output.meta:q}"
        " --log {log:q}"


rule word_vectors:
    input:
        corpus=CORPUS_FILES["corpus"],
        meta=CORPUS_FILES["meta"],
    output:
        **layout.word_vectors("{vectors}"),
    log:
        layout.log("word_vectors", "{vectors}"),
    conda:
        "../env.yaml"
    # One gensim worker: the vectors, and all that is built on them, are the same bytes on every run (several
    # workers update them in an order that varies; `--set-threads word_vectors=4` trades that for speed).
    threads: 1
    params:
        identity=word_vectors_identity,
        settings=run_only(word_vectors_json),
    shell:
        "python -m kit word-vectors --name {wildcards.vectors} --settings-json {params.settings:q}"
        " --corpus {input.corpus:q} --corpus-meta {input.meta:q} --threads {threads}"
        " --out-vectors {output.vectors:q} --out-meta {output.meta:q}"
        " --log {log:q}"
