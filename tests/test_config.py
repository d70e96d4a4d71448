"""kit.config: the whole config typed and checked at plan time, the matrix, and hashes over what decides numbers."""

import copy
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from kit import config as kit_config
from kit import docs
from kit.settings import SettingsError

REPO_CONFIGS = docs.DEFAULT_CONFIG.parent


def minimal(**extra) -> dict:
    return {"data": {"train": "train.csv", "test": "test.csv"}, "models": {"lr": {"kind": "sklearn"}}, **extra}


@pytest.fixture(scope="module")
def default_config() -> dict:
    return kit_config.load_yaml(REPO_CONFIGS / "config.yaml")


def test_defaults_are_filled_and_classes_become_strings():
    config = kit_config.load(minimal(classes=[-1, 0, 1]))
    assert config.classes == ("-1", "0", "1")
    assert (config.folds.k, config.folds.seed) == (5, 42)
    assert config.models["lr"].run.gpu == 0 and config.models["lr"].params.C == 4.0
    assert config.final == "auto" and config.variants == ("raw", "cleaned")


def test_matrix_expands_models_seeds_variants_with_entry_overrides():
    config = kit_config.load(minimal(
        seeds=[0, 1],
        models={"lr": {"kind": "sklearn"},
                "bert": {"kind": "transformer", "backbone": "hfl/chinese-roberta-wwm-ext", "variants": ["cleaned"],
                         "seeds": [7]}},
    ))
    names = [exp.name for exp in kit_config.matrix(config)]
    assert names == ["lr.raw.s0", "lr.cleaned.s0", "lr.raw.s1", "lr.cleaned.s1", "bert.cleaned.s7"]


# Each mistake must stop the plan with its key named (issue: these all planned before).
def _set(path, value):
    def change(config):
        *parents, last = path
        for key in parents:
            config = config[key]
        config[last] = value
    return change


PLAN_STOPPERS = [
    (_set(["variants"], ["clean"]), r"'variants': unknown variant 'clean'; did you mean 'cleaned'"),
    (_set(["ensembles", "fx"], {"method": "fixed", "weights": {"tfidf_char_lr.raw.s0": 1, "tfidf_chr_lr.raw.s0": 1}}),
     r"'ensembles\.fx\.weights': names 'tfidf_chr_lr\.raw\.s0'.*did you mean 'tfidf_char_lr\.raw\.s0'"),
    (_set(["ensembles", "vr"], {"method": "vote_multiround", "members": ["tfidf_char_lr.raw.s0", "tiny_bert.cleaned.s0"]}),
     r"'ensembles\.vr\.members': method 'vote_multiround' needs at least 3 members, got 2"),
    (_set(["ensembles", "st"], {"method": "stack", "estimator": "LogisticRegresion"}),
     r"'ensembles\.st\.estimator': 'LogisticRegresion' is not a scikit-learn classifier.*LogisticRegression"),
    (_set(["ensembles", "mean", "members"], ["caruana"]), None),  # with the next one: a cycle
    (_set(["models", "tfidf_char_lr", "C"], "4"), r"'models\.tfidf_char_lr\.C': must be a number \(got '4'\)"),
    (_set(["models", "tfidf_char_lr", "max_features"], "lots"), r"'models\.tfidf_char_lr\.max_features': must be"),
    (_set(["models", "tfidf_char_lr", "solver"], "sag4"), r"'models\.tfidf_char_lr\.solver': must be one of"),
    (_set(["models", "tfidf_char_lr", "char_ngram"], "1-3"), r"'models\.tfidf_char_lr\.char_ngram': must be a list"),
    (_set(["models", "tfidf_char_lr", "C"], "high"), r"'models\.tfidf_char_lr\.C': must be a number"),
    (_set(["models", "tfidf_char_lr", "kind"], "sklern"), r"'models\.tfidf_char_lr\.kind': unknown model kind"),
    (_set(["models", "tiny_bert", "head"], "gru"), r"'models\.tiny_bert\.head': must be one of"),
    (_set(["models", "tiny_bert", "max_len"], 512), r"'models\.tiny_bert\.max_len': 512 exceeds"),
    (_set(["models", "tiny_bert", "variants"], ["raw", "cleaend"]), r"'models\.tiny_bert\.variants': unknown variant"),
    (_set(["models", "tfidf_char_lr", "gpu"], -1), r"'models\.tfidf_char_lr\.gpu': must be at least 0"),
    (_set(["classes"], ["it's", "ok"]), r"'classes': label \"it's\" may hold only"),
    (_set(["classes"], ["0", "0", "1"]), r"'classes': has duplicates"),
    (_set(["folds", "k"], 1), r"'folds\.k': must be at least 2"),
    (_set(["models", "bad.name"], {"kind": "sklearn"}), r"'models': 'bad\.name' does not match"),
    (_set(["ensembles", "e"], {"method": "mean", "members": ["nope.raw.s0"]}), r"'ensembles\.e\.members': 'nope\.raw\.s0'"),
    (_set(["ensembles", "e"], {"method": "caruana", "estimator": "SVC"}), r"'ensembles\.e\.estimator': is not a key"),
    (_set(["final"], "missing"), r"'final': 'missing' is not 'auto'"),
    (_set(["models", "w2v_lr", "vectors"], "w2v_big"),
     r"'models\.w2v_lr\.vectors': names no word_vectors entry 'w2v_big'; did you mean 'w2v'"),
    (_set(["models", "tfidf_char_lr", "vectors"], "w2v"),
     r"'models\.tfidf_char_lr\.vectors': applies to features with 'vectors' only"),
    (_set(["models", "w2v_lr"], {"kind": "wordvec", "vectors": "w2v", "adversarial": "fgm"}),
     r"'models\.w2v_lr\.adversarial': perturbs the word vectors, which freeze: true keeps fixed"),
    (_set(["models", "w2v_lr"], {"kind": "wordvec", "vectors": "w2v", "attention_dropout": 0.1}),
     r"'models\.w2v_lr\.attention_dropout': applies with a backbone only"),
    (_set(["models", "tiny_bert", "attention_dropout"], 1.0), r"'models\.tiny_bert\.attention_dropout': must be"),
    (_set(["ensemble"], {}), r"'ensemble': is not a key here; did you mean 'ensembles'"),
]


@pytest.mark.parametrize("index", [i for i, (_, message) in enumerate(PLAN_STOPPERS) if message])
def test_each_mistake_names_its_key(default_config, index):
    change, message = PLAN_STOPPERS[index]
    broken = copy.deepcopy(default_config)
    change(broken)
    with pytest.raises(SettingsError, match=message):
        kit_config.load(broken)


def test_an_ensemble_cycle_is_named(default_config):
    broken = copy.deepcopy(default_config)
    broken["ensembles"]["mean"]["members"] = ["caruana"]
    broken["ensembles"]["caruana"]["members"] = ["mean"]
    with pytest.raises(SettingsError, match=r"makes a cycle: ensemble.mean -> ensemble.caruana -> ensemble.mean"):
        kit_config.load(broken)


def with_pseudo(default_config, teacher, variants=("raw", "cleaned", "pl")):
    config = copy.deepcopy(default_config)
    config["pseudo"] = {"pl": {"teacher": teacher, "base_variant": "cleaned"}}
    config["models"]["tfidf_char_lr"]["variants"] = list(variants)
    return config


def test_pseudo_variants_join_the_matrix_and_name_the_experiments_that_label_the_pool(default_config):
    config = copy.deepcopy(default_config)
    config["ensembles"]["teacher"] = {"method": "mean", "members": ["tfidf_word_lr.cleaned.s0", "tiny_bert.cleaned.s0"]}
    config["ensembles"]["round2"] = {"method": "mean", "members": ["tfidf_char_lr.pl.s0", "tfidf_word_lr.raw.s0"]}
    config["pseudo"] = {"pl": {"teacher": "ensemble.teacher"}, "pl2": {"teacher": "round2", "threshold": [0.8, 0.9, 0.8]}}
    config["models"]["tfidf_char_lr"]["variants"] = ["cleaned", "pl", "pl2"]
    loaded = kit_config.load(config)
    assert {"tfidf_char_lr.pl.s0", "tfidf_char_lr.pl2.s0"} <= {exp.name for exp in kit_config.matrix(loaded)}
    assert kit_config.teacher_artifact(loaded, "pl") == "ensemble.teacher"
    assert kit_config.teacher_artifact(loaded, "pl2") == "ensemble.round2"  # a second round
    assert kit_config.pool_teachers(loaded) == {"tfidf_word_lr.cleaned.s0", "tiny_bert.cleaned.s0",
                                                "tfidf_char_lr.pl.s0", "tfidf_word_lr.raw.s0"}
    assert kit_config.text_variant(loaded, "pl2") == "cleaned" and kit_config.variant_kind(loaded, "pl") == "pseudo"


@pytest.mark.parametrize(("teacher", "change", "message"), [
    ("nope.cleaned.s0", None, r"'pseudo\.pl\.teacher': 'nope\.cleaned\.s0' is neither an experiment nor"),
    ("caruana", None, r"'pseudo\.pl\.teacher': makes a cycle: pseudo variant pl -> ensemble\.caruana -> "
                      r"tfidf_char_lr\.pl\.s0 -> pseudo variant pl"),
    ("tfidf_char_lr.pl.s0", None, r"'pseudo\.pl\.teacher': makes a cycle"),
    ("tfidf_word_lr.cleaned.s0", {"base_variant": "pl"}, r"'pseudo\.pl\.base_variant': 'pl' is not a text variant"),
    ("tfidf_word_lr.cleaned.s0", {"threshold": [0.9, 0.9]}, r"'pseudo\.pl\.threshold': gives 2 thresholds for 3"),
])
def test_pseudo_mistakes_name_their_key(default_config, teacher, change, message):
    config = with_pseudo(default_config, teacher)
    config["pseudo"]["pl"].update(change or {})
    with pytest.raises(SettingsError, match=message):
        kit_config.load(config)


def test_soft_targets_are_refused_for_a_kind_that_learns_hard_labels_only(default_config):
    config = with_pseudo(default_config, "tfidf_word_lr.cleaned.s0")
    config["pseudo"]["pl"].update(targets="soft", threshold=0.0, temperature=2.0)
    assert "tfidf_char_lr.pl.s0" in {exp.name for exp in kit_config.matrix(kit_config.load(config))}
    config["models"]["tiny_bert"]["variants"] = ["cleaned", "pl"]
    with pytest.raises(SettingsError, match=r"'models\.tiny_bert\.variants': pseudo variant 'pl' has soft targets, "
                                            r"which kind 'transformer' cannot learn; .* \(sklearn\)"):
        kit_config.load(config)


def test_an_augment_variant_needs_the_word_vectors_it_names(default_config):
    config = copy.deepcopy(default_config)
    config["augment"] = {"eda": {"synonyms": "w2v_corpus"}}
    config["models"]["tfidf_char_lr"]["variants"] = ["cleaned", "eda"]
    teacher = config["ensembles"]["teacher"]
    teacher["members"] = [member for member in teacher["members"] if member != "tfidf_char_lr.raw.s0"]
    with pytest.raises(SettingsError, match=r"'augment\.eda\.synonyms': 'w2v_corpus' is not a word_vectors entry"):
        kit_config.load(copy.deepcopy(config))
    config["word_vectors"]["w2v_corpus"] = {}
    loaded = kit_config.load(config)
    assert kit_config.variant_kind(loaded, "eda") == "augment" and kit_config.text_variant(loaded, "eda") == "cleaned"


def test_a_registered_variant_kind_is_a_config_block_whose_entries_are_variants(monkeypatch):
    from dataclasses import dataclass

    from kit import registry
    from kit.registry import VariantKind, register
    from kit.settings import Settings, setting, to_dict

    @dataclass
    class Loud(Settings):
        base_variant: str = setting("raw", "the text variant it copies")
        copies: int = setting(1, "upper-cased copies of each training row", ge=1)

    registry.names(registry.VARIANT_KINDS)
    for attribute in ("entries", "origin"):
        monkeypatch.setattr(registry.VARIANT_KINDS, attribute, dict(getattr(registry.VARIANT_KINDS, attribute)))
    register(VariantKind("loud", Loud, "m:rows", inputs=lambda name, settings: {"report": "data/interim/report.json"}))
    config = kit_config.load(minimal(variants=["raw", "shouty"], loud={"shouty": {"copies": 2}}))
    assert kit_config.variant_kind(config, "shouty") == "loud" and kit_config.text_variant(config, "shouty") == "raw"
    assert kit_config.variant_inputs(config, "shouty") == {"report": "data/interim/report.json"}
    assert kit_config.variant_inputs(config, "raw") == {}
    shouty = next(exp for exp in kit_config.matrix(config) if exp.variant == "shouty")
    identity = kit_config.experiment_identity(config, shouty)
    assert identity["variant_settings"] == {"copies": 2} and list(identity["variant_code"]) == [__name__]
    assert to_dict(config)["loud"] == {"shouty": {"base_variant": "raw", "copies": 2}}  # `kit config --show`
    with pytest.raises(SettingsError, match=r"'loud\.raw': is already the name of another variant"):
        kit_config.load(minimal(loud={"raw": {}}))
    with pytest.raises(SettingsError, match=r"'loud\.shouty\.copies'"):
        kit_config.load(minimal(loud={"shouty": {"copies": 0}}))


def test_other_competition_does_not_inherit_the_demo_unlabeled_file():
    config = minimal()
    config["data"]["unlabeled"] = kit_config.DEMO_FILES["unlabeled"]
    assert kit_config.load(config).data.unlabeled is None


def test_ensemble_members_resolve_experiments_ensembles_and_fixed_weights():
    config = kit_config.load(minimal(ensembles={
        "a": {"method": "mean", "members": "all"},
        "b": {"method": "mean", "members": ["a", "lr.raw.s0"]},
        "f": {"method": "fixed", "weights": {"lr.cleaned.s0": 2, "a": 1}},
    }))
    assert kit_config.ensemble_members(config, "a") == ["lr.raw.s0", "lr.cleaned.s0"]
    assert kit_config.ensemble_members(config, "b") == ["ensemble.a", "lr.raw.s0"]
    assert kit_config.ensemble_members(config, "f") == ["lr.cleaned.s0", "ensemble.a"]


def test_kept_experiments_are_those_the_final_submission_can_depend_on():
    models = {"lr": {"kind": "sklearn"}, "svm": {"kind": "sklearn", "estimator": "linear_svm", "variants": ["raw"]}}
    ensembles = {"a": {"method": "mean", "members": ["lr.raw.s0"]},
                 "b": {"method": "mean", "members": ["a", "svm.raw.s0"]}}
    everything = {"lr.raw.s0", "lr.cleaned.s0", "svm.raw.s0"}
    cases = [({}, {"lr.raw.s0", "svm.raw.s0"}),  # auto: the members of every ensemble, however deep
             ({"final": "a"}, {"lr.raw.s0"}), ({"final": "lr.cleaned.s0"}, {"lr.cleaned.s0"}),
             ({"keep_models": "all", "final": "a"}, everything), ({"keep_models": "none"}, set())]
    for extra, kept in cases:
        config = kit_config.load(minimal(models=models, ensembles=ensembles, **extra))
        assert kit_config.kept_experiments(config) == kept, extra
    with_ensembles = kit_config.load(minimal(models=models, ensembles=ensembles))
    assert kit_config.final_candidates(with_ensembles) == ["ensemble.a", "ensemble.b", "lr.raw.s0", "lr.cleaned.s0",
                                                           "svm.raw.s0"]
    no_ensembles = kit_config.load(minimal(models=models))
    assert kit_config.final_candidates(no_ensembles) == ["lr.raw.s0", "lr.cleaned.s0", "svm.raw.s0"]
    assert kit_config.kept_experiments(no_ensembles) == everything
    with pytest.raises(SettingsError, match="'keep_models'"):
        kit_config.load(minimal(keep_models="some"))


def test_the_hash_covers_what_decides_the_numbers_and_nothing_else(default_config):
    config = kit_config.load(copy.deepcopy(default_config))
    exp = kit_config.matrix(config)[0]
    base = kit_config.experiment_config_hash(config, exp)
    changed = copy.deepcopy(default_config)
    changed["models"]["tfidf_char_lr"].update(threads=4, gpu=1, seeds=[0, 1])
    changed["seeds"] = [0, 5]
    assert kit_config.experiment_config_hash(kit_config.load(changed), exp) == base
    changed["models"]["tfidf_char_lr"]["C"] = 2.0
    assert kit_config.experiment_config_hash(kit_config.load(changed), exp) != base
    assert kit_config.experiment_config_hash(config, kit_config.Experiment(exp.model, exp.variant, 1)) != base


def test_a_model_hashes_the_word_vectors_entry_it_names(default_config):
    config = kit_config.load(copy.deepcopy(default_config))
    pooled = next(exp for exp in kit_config.matrix(config) if exp.model == "w2v_lr")
    assert kit_config.model_inputs(config, "w2v_lr") == {
        "vectors": "models/word_vectors/w2v.kv", "vectors_meta": "models/word_vectors/w2v.json",
        "corpus": "data/corpus/corpus.parquet",
        "userdict": "data/corpus/userdict.txt"}
    assert kit_config.model_inputs(config, "tfidf_char_lr") == {}
    changed = copy.deepcopy(default_config)
    changed["word_vectors"]["w2v"]["dim"] = 32
    changed_config = kit_config.load(changed)
    tfidf = next(exp for exp in kit_config.matrix(config) if exp.model == "tfidf_char_lr")
    for exp, changes in ((pooled, True), (tfidf, False)):
        assert (kit_config.experiment_config_hash(changed_config, exp)
                != kit_config.experiment_config_hash(config, exp)) == changes


def test_params_json_is_the_same_for_the_same_entry_in_another_key_order(default_config):
    reordered = copy.deepcopy(default_config)
    reordered["models"] = {name: dict(reversed(list(entry.items()))) for name, entry in reordered["models"].items()}
    reordered["ensembles"] = {name: dict(reversed(list(e.items()))) for name, e in reordered["ensembles"].items()}
    a, b = kit_config.load(copy.deepcopy(default_config)), kit_config.load(reordered)
    for model in a.models:
        assert kit_config.model_params_json(a, model) == kit_config.model_params_json(b, model)
    for name in a.ensembles:
        assert kit_config.ensemble_spec_json(a, name) == kit_config.ensemble_spec_json(b, name)
    threads_only = copy.deepcopy(default_config)
    threads_only["models"]["tiny_bert"]["threads"] = 2
    assert kit_config.model_params_json(kit_config.load(threads_only), "tiny_bert") == \
        kit_config.model_params_json(a, "tiny_bert")


@pytest.mark.parametrize("files", [["config.yaml"], ["competition.yaml"], ["competition.yaml", "demo_data.yaml"]])
def test_shipped_configs_load_and_match_the_schema(files):
    jsonschema = pytest.importorskip("jsonschema")
    merged = docs.merged_config([REPO_CONFIGS / name for name in files])
    assert kit_config.matrix(kit_config.load(copy.deepcopy(merged)))
    jsonschema.validate(merged, docs.schema())


def test_the_schema_file_for_editors_is_the_generated_one():
    on_disk = json.loads(docs.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert on_disk == docs.schema(), "regenerate it: python -m kit config --schema > kit/schema/config.schema.json"


def test_loading_the_default_config_imports_no_numpy_pandas_torch_or_sklearn():
    """The Snakefile loads the config at plan time: these would add 0.2-2 s to every `snakemake -n`."""
    code = (
        "import sys; from kit import config; config.load(config.load_yaml(sys.argv[1]));"
        "print(sorted({'numpy', 'pandas', 'torch', 'sklearn', 'jsonschema'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(REPO_CONFIGS / "config.yaml")], capture_output=True,
                         text=True, check=True)
    assert out.stdout == "[]\n"


def test_a_loaded_config_that_expands_past_the_bound_names_its_key(default_config):
    """What Snakemake hands over (its merged config, --config values included) is measured too; shared lists stand
    for YAML aliases."""
    level = ["x"] * 10
    for _ in range(6):
        level = [level] * 10
    config = copy.deepcopy(default_config)
    config["ensembles"]["st"] = {"method": "stack", "params": {"class_weight": level}}
    with pytest.raises(SettingsError, match=r"config key 'ensembles\.st\.params\.class_weight': expands to 1\.11e\+07 "
                                            r"values, more than the 100,000"):
        kit_config.load(config)


def test_a_loaded_config_that_holds_itself_is_refused(default_config):
    params = {"C": 1.0}
    params["again"] = params
    config = copy.deepcopy(default_config)
    config["ensembles"]["st"] = {"method": "stack", "params": params}
    with pytest.raises(SettingsError, match=r"config key 'ensembles\.st\.params\.again': holds itself"):
        kit_config.load(config)


def test_the_config_files_snakemake_read_are_read_again_strictly(tmp_path, default_config):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("folds: {k: 3}\nfolds: {k: 4}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"overlay\.yaml: line 2: config key 'folds' is given twice in one mapping "
                                            r"\(lines 1 and 2\)"):
        kit_config.load(default_config, files=[REPO_CONFIGS / "config.yaml", overlay])


def test_build_steps_build_what_the_config_needs_from_the_files_they_declare(default_config):
    from kit import layout, registry
    from kit.models.transformer.config import BackboneSource

    config = kit_config.load(copy.deepcopy(default_config))
    assert kit_config.step_entries(config, "corpus") == {"corpus": config.corpus}
    assert kit_config.step_entries(config, "word_vectors") == config.word_vectors
    assert kit_config.step_entries(config, "pseudo_rows") == config.pseudo
    (post_hash, post), = kit_config.step_entries(config, "post_train").items()
    (scratch_hash, scratch), = kit_config.step_entries(config, "build_backbone").items()
    assert BackboneSource(post_train=post).folder_name() == f"post-{post_hash}"
    assert BackboneSource(scratch=scratch).folder_name() == f"scratch-{scratch_hash}"
    # Each step reads exactly the roles its command takes, from kit.layout's paths.
    for step in registry.names(registry.BUILD_STEPS):
        for entry in kit_config.step_entries(config, step):
            assert set(kit_config.step_inputs(config, step, entry)) == set(registry.build_step(step).reads), step
    assert kit_config.step_inputs(config, "post_train", post_hash)["base_dir"] == [
        layout.backbone(f"scratch-{scratch_hash}")]
    name, entry = next(iter(config.pseudo.items()))
    teacher = layout.artifact_files(kit_config.teacher_artifact(config, name))
    assert kit_config.step_inputs(config, "pseudo_rows", name) == {
        "teacher_npz": teacher["npz"], "teacher_manifest": teacher["manifest"],
        "pool": layout.variant_files(entry.base_variant, pool=True)["pool"],
        "train": [layout.variant_files(entry.base_variant)["train"]]}  # the default's source held_out reads them
    config.pseudo[name] = replace(entry, sources=("test", "unlabeled"))
    assert kit_config.step_inputs(config, "pseudo_rows", name)["train"] == []
    config.pseudo[name] = entry
    unlabeled = kit_config.step_inputs(config, "corpus", "corpus")["unlabeled"]
    assert unlabeled == ([layout.interim("unlabeled")] if config.data.unlabeled else [])
    with pytest.raises(ValueError, match=r"word_vectors: the config's word_vectors has no entry 'nope'"):
        kit_config.step_inputs(config, "word_vectors", "nope")


def test_the_run_config_record_reads_back_to_the_same_experiments_and_is_written_only_when_it_changes(
        tmp_path, default_config, capsys):
    config = kit_config.load(default_config)
    record = tmp_path / "logs" / "run_config.yaml"
    kit_config.record_run_config(config, record, ["configs/config.yaml"])
    again = kit_config.load(kit_config.load_yaml(record))
    assert {exp.name: kit_config.experiment_config_hash(again, exp) for exp in kit_config.matrix(again)} == {
        exp.name: kit_config.experiment_config_hash(config, exp) for exp in kit_config.matrix(config)}
    assert {name: kit_config.ensemble_members(again, name) for name in again.ensembles} == {
        name: kit_config.ensemble_members(config, name) for name in config.ensembles}
    written = record.stat().st_mtime_ns
    kit_config.record_run_config(config, record, ["configs/config.yaml"])  # the same config: left alone
    assert record.stat().st_mtime_ns == written
    kit_config.record_run_config(kit_config.load({**default_config, "seeds": [0, 1]}), record, [])
    assert kit_config.load(kit_config.load_yaml(record)).seeds == (0, 1)
    assert [path.name for path in record.parent.iterdir()] == ["run_config.yaml"]  # no temporary file left
    # A folder that cannot hold the record costs the record only, with a warning.
    (tmp_path / "blocked").write_text("a file where the folder would be")
    kit_config.record_run_config(config, tmp_path / "blocked" / "run_config.yaml", [])
    assert "could not record the run's config" in capsys.readouterr().err


@pytest.mark.parametrize("argv, refused", [
    (["snakemake", "-n", "--config", "seeds=[0, 1]", "final=auto"], False),
    (["snakemake", "--configfile", "a.yaml", "--configfiles", "b.yaml", "--config", "final=auto"], False),
    (["snakemake", "--config", "seeds=[0, 1]", "--config", "final=auto"], True),
    (["snakemake", "-C", "seeds=[0, 1]", "--config=final=auto"], True),
])
def test_more_than_one_config_flag_is_refused(argv, refused):
    if refused:
        with pytest.raises(ValueError, match=r"has 2 --config flags, and Snakemake would keep only the last"):
            kit_config.refuse_repeated_config_flags(argv)
    else:
        kit_config.refuse_repeated_config_flags(argv)


def test_a_model_entry_without_its_kind_says_a_models_block_replaces_the_default_matrix():
    with pytest.raises(SettingsError, match=r"'models\.lr\.kind': is required: one of .*name it exactly as its "
                                            r"entry does.*replaces the default matrix"):
        kit_config.load(minimal(models={"lr": {"C": 2.0}}))


@pytest.mark.parametrize("text", ["", "# nothing set yet\n", "~\n"])
def test_an_empty_config_file_is_an_empty_mapping(tmp_path, text):
    (tmp_path / "empty.yaml").write_text(text, encoding="utf-8")
    assert kit_config.load_yaml(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize("text, what", [("[]\n", "a list"), ("false\n", "true or false"), ("0\n", "a number"),
                                        ("2026-01-01\n", "a date"), ("just words\n", "a string")])
def test_a_config_file_that_is_not_a_mapping_is_refused_naming_what_it_holds(tmp_path, text, what):
    (tmp_path / "odd.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"odd\.yaml: holds {what} \(.*\), not a mapping of config keys"):
        kit_config.load_yaml(tmp_path / "odd.yaml")
