"""kit.pseudo: which pool rows a fold's students get, and how often the teacher is right where it is trusted."""

import numpy as np
import pytest

from kit.pseudo import PseudoSettings, select_pseudo_rows, teacher_artifact, teacher_precision
from kit.settings import parse


def settings(**values) -> PseudoSettings:
    return parse(PseudoSettings, {"teacher": "m.cleaned.s0", **values}, "pseudo.p")


def probs_for(labels, confidences, n_classes=3):
    """[n x C] probabilities whose argmax is labels and max is confidences."""
    rest = (1 - np.asarray(confidences)) / (n_classes - 1)
    probs = np.repeat(rest[:, None], n_classes, axis=1)
    probs[np.arange(len(labels)), labels] = confidences
    return probs


def test_threshold_keeps_confident_allowed_rows_only():
    probs = probs_for([0, 1, 2, 1, 0], [0.95, 0.5, 0.99, 0.91, 0.92])
    allowed = np.array([True, True, True, True, False])
    rows, labels, confidence = select_pseudo_rows(probs, allowed, np.array([0, 1, 2]), settings(balance="none"), 0)
    assert rows.tolist() == [0, 2, 3] and labels.tolist() == [0, 2, 1]
    assert np.allclose(confidence, [0.95, 0.99, 0.91])


def test_per_class_thresholds_and_top_fraction():
    probs = probs_for([0, 0, 0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9, 0.4, 0.95])
    allowed = np.ones(6, dtype=bool)
    rows, _, _ = select_pseudo_rows(probs, allowed, np.array([0, 1]), settings(threshold=[0.75, 0.5, 0.5],
                                                                               balance="none"), 0)
    assert rows.tolist() == [2, 3, 5]
    rows, _, _ = select_pseudo_rows(probs, allowed, np.array([0, 1]), settings(threshold=0, top_fraction=0.5,
                                                                               balance="none"), 0)
    assert rows.tolist() == [2, 3, 5]  # the top half of each predicted class


def test_train_ratio_balance_keeps_the_class_ratio_and_the_cap():
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=1000, p=[0.1, 0.7, 0.2])
    probs = probs_for(labels, rng.uniform(0.91, 1.0, 1000))
    train = np.repeat([0, 1, 2], [30, 40, 30])  # 30% / 40% / 30%
    rows, chosen, _ = select_pseudo_rows(probs, np.ones(1000, dtype=bool), train, settings(max_rows=200), 1)
    counts = np.bincount(chosen, minlength=3)
    assert counts.tolist() == [60, 80, 60] and len(rows) == 200
    rows, chosen, _ = select_pseudo_rows(probs, np.ones(1000, dtype=bool), train, settings(max_rows=10**6), 1)
    available = np.bincount(labels, minlength=3)
    assert available[0] - 1 <= np.bincount(chosen, minlength=3)[0] <= available[0]  # the scarcest class binds
    assert np.allclose(np.bincount(chosen, minlength=3) / len(chosen), [0.3, 0.4, 0.3], atol=0.01)


def test_selection_is_a_function_of_its_inputs_and_fold():
    probs = probs_for(np.zeros(50, dtype=int), np.full(50, 0.95))
    pick = [select_pseudo_rows(probs, np.ones(50, dtype=bool), np.array([0]), settings(max_rows=10), fold)[0]
            for fold in (0, 0, 1)]
    assert np.array_equal(pick[0], pick[1]) and not np.array_equal(pick[0], pick[2])  # ties broken per fold


def test_teacher_precision_counts_the_trusted_oof_rows():
    probs = probs_for([0, 0, 1, 1, 2], [0.95, 0.99, 0.92, 0.5, 0.97])
    y = np.array([0, 1, 1, 1, 2])
    estimate = teacher_precision(probs, y, settings())
    assert estimate["rows"] == 4 and estimate["precision"] == pytest.approx(0.75)
    assert estimate["per_class"][0] == {"rows": 2, "precision": 0.5}
    assert estimate["per_class"][1] == {"rows": 1, "precision": 1.0}


@pytest.mark.parametrize(("entry", "message"), [
    ({}, r"'pseudo\.p\.teacher': is required"),
    ({"teacher": "t", "threshold": 1.5}, r"'pseudo\.p\.threshold': must be at most 1"),
    ({"teacher": "t", "sources": ["train"]}, r"'pseudo\.p\.sources\[0\]': must be one of 'test', 'unlabeled'"),
    ({"teacher": "t", "sources": ["test", "test"]}, r"'pseudo\.p\.sources': names a source twice"),
    ({"teacher": "t", "balance": "equal"}, r"'pseudo\.p\.balance': must be one of"),
    ({"teacher": "t", "temperature": 2.0}, r"'pseudo\.p\.temperature': applies to targets 'soft' only"),
    ({"teacher": "t", "targets": "soft", "temperature": 0}, r"'pseudo\.p\.temperature': must be greater than 0"),
])
def test_bad_entries_name_their_key(entry, message):
    with pytest.raises(ValueError, match=message):
        parse(PseudoSettings, entry, "pseudo.p")


# ------------------------------------------------------------------------------------------------ no leakage


def memorise(params, data, seed, workdir, log):
    """A model that recalls the label of every text it trained on and knows nothing else: the worst case for a
    pseudo-label leak. A text it never saw gets a weak guess that is a function of the text alone (so its labels
    differ from row to row, and rows taken from the wrong predictions would show)."""
    from zlib import crc32

    from kit.models import FoldResult

    seen = dict(zip(data.train_text, data.train_y))

    def logits(texts):
        out = np.zeros((len(texts), data.n_classes), dtype=np.float32)
        for row, text in enumerate(texts):
            if text in seen:
                out[row, seen[text]] = 10.0
            else:
                out[row, crc32(text.encode()) % data.n_classes] = 1.0
        return out

    return FoldResult(logits(data.valid_text), logits(data.test_text),
                      pool_logits=logits(data.pool_text) if data.pool_text else None)


def test_per_fold_teachers_leak_nothing_where_a_full_data_teacher_inflates_the_score(tmp_path, monkeypatch):
    """Labels are random, so any OOF skill is a leak. The pool holds copies of every training text. A teacher that
    memorises its training rows, asked fold by fold, cannot label fold k's copies for fold k's students; asked once
    on all rows (the naive build), it hands every student the labels of the fold it is scored on."""
    import pandas as pd

    from kit import registry
    from kit.artifacts import read_json, write_json
    from kit.experiment import PseudoRows, VariantFiles, merge_folds, run_fold
    from kit.folds import assign_folds
    from kit.metrics import macro_f1
    from kit.pseudo import write_pseudo_rows
    from kit.registry import Family, register
    from kit.settings import Settings

    registry.names(registry.FAMILIES)
    monkeypatch.setattr(registry.FAMILIES, "entries", dict(registry.FAMILIES.entries))
    register(Family("memorise", Settings, memorise, soft_targets=True))
    rng = np.random.default_rng(0)
    classes = ["-1", "0", "1"]
    n = 300
    texts = [f"帖子{i:04d}" for i in range(n)]
    labels = rng.choice(classes, size=n)
    train = pd.DataFrame({"id": [f"t{i}" for i in range(n)], "text": texts, "label": labels})
    variant = tmp_path / "v"
    variant.mkdir()
    train.to_parquet(variant / "train.parquet")
    pd.DataFrame({"id": ["x"], "text": ["无关"]}).to_parquet(variant / "test.parquet")
    write_json(variant / "meta.json", {"variant": "raw", "data_hash": "d" * 64})
    pool = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "text": texts, "source": "unlabeled"})
    pool.to_parquet(variant / "pool.parquet")
    fold_of = assign_folds(labels, texts, k=3, seed=0)
    pd.DataFrame({"id": train["id"], "label": labels, "fold": fold_of}).to_parquet(tmp_path / "folds.parquet")
    files = VariantFiles.in_folder(variant)
    quiet = dict(classes=classes, workdir=tmp_path / "w", log=lambda line: None)

    def experiment(name, **extra):
        paths = [tmp_path / name / f"fold{k}.npz" for k in range(3)]
        for k, path in enumerate(paths):
            run_fold(kind="memorise", params={}, variant=files, folds_path=tmp_path / "folds.parquet", fold=k,
                     seed=0, out=path, **quiet, **extra)
        return merge_folds(fold_files=paths, variant=files, folds_path=tmp_path / "folds.parquet", classes=classes,
                           name=f"{name}.raw.s0", model=name, kind="memorise", params={}, config_hash="c")

    def oof_f1(artifact):
        return macro_f1(artifact.labels, artifact.oof_logits.argmax(axis=1), 3)

    teacher = experiment("teacher", pool=variant / "pool.parquet")
    teacher.save(tmp_path / "oof" / "teacher")
    settings = parse(PseudoSettings, {"teacher": "teacher.raw.s0", "threshold": 0.9, "balance": "none"}, "pseudo.pl")
    write_pseudo_rows("pl", settings, tmp_path / "oof/teacher/oof.npz", tmp_path / "oof/teacher/manifest.json",
                      variant / "pool.parquet", tmp_path / "pl.parquet", tmp_path / "pl.json", log=lambda line: None)
    honest = oof_f1(experiment("student", additions=PseudoRows(tmp_path / "pl.parquet", tuple(classes))))
    soft = parse(PseudoSettings, {"teacher": "teacher.raw.s0", "threshold": 0.9, "balance": "none",
                                  "targets": "soft", "temperature": 2.0}, "pseudo.kd")
    write_pseudo_rows("kd", soft, tmp_path / "oof/teacher/oof.npz", tmp_path / "oof/teacher/manifest.json",
                      variant / "pool.parquet", tmp_path / "kd.parquet", tmp_path / "kd.json", log=lambda line: None)
    kd_rows = pd.read_parquet(tmp_path / "kd.parquet")
    targets = kd_rows[[f"p_{c}" for c in classes]].to_numpy()
    assert np.allclose(targets.sum(axis=1), 1) and 0.5 < targets.max(axis=1).min() < 0.999  # softened: 10 / 2
    assert (targets.argmax(axis=1) == kd_rows["label"].map(classes.index)).all()
    distilled = oof_f1(experiment("distilled", additions=PseudoRows(tmp_path / "kd.parquet", tuple(classes))))

    # held_out: fold k's students also get fold k's own texts, labelled by the teacher's OOF prediction of them.
    own = parse(PseudoSettings, {"teacher": "teacher.raw.s0", "threshold": 0.0, "balance": "none",
                                 "sources": ["test", "unlabeled", "held_out"]}, "pseudo.own")
    write_pseudo_rows("own", own, tmp_path / "oof/teacher/oof.npz", tmp_path / "oof/teacher/manifest.json",
                      variant / "pool.parquet", tmp_path / "own.parquet", tmp_path / "own.json", log=lambda line: None,
                      train_path=variant / "train.parquet")
    own_rows = pd.read_parquet(tmp_path / "own.parquet")
    held = own_rows[own_rows["source"] == "held_out"]
    fold_by_id = dict(zip(train["id"], fold_of))
    assert len(held) == n and (held["fold"] == held["id"].map(fold_by_id)).all()  # each fold its own rows, once
    oof_label = dict(zip(teacher.ids, np.array(classes)[teacher.oof_logits.argmax(axis=1)]))
    assert (held["label"] == held["id"].map(oof_label)).all() and (held["text"] == held["id"].map(
        dict(zip(train["id"], texts)))).all()
    assert held["label"].nunique() == 3  # the teacher's guesses, not one default label
    assert read_json(tmp_path / "own.json")["rows_per_source"] == {"held_out": n, "unlabeled": 3 * n}
    mirrored = oof_f1(experiment("mirrored", additions=PseudoRows(tmp_path / "own.parquet", tuple(classes))))

    full_teacher = dict(zip(texts, labels))  # the naive build: one teacher trained on every labelled row
    naive_rows = pd.DataFrame([{"fold": k, "id": f"p{i}", "text": text, "label": full_teacher[text]}
                               for k in range(3) for i, text in enumerate(texts)])
    naive_rows.to_parquet(tmp_path / "naive.parquet")
    naive = oof_f1(experiment("naive", additions=PseudoRows(tmp_path / "naive.parquet", tuple(classes))))

    print(f"teacher {oof_f1(teacher):.3f}, per-fold teachers {honest:.3f}, naive full-data teacher {naive:.3f}")
    assert oof_f1(teacher) < 0.45  # random labels: chance is about 0.33
    assert honest < 0.45, f"per-fold teachers leaked: OOF macro-F1 {honest:.3f}"
    assert distilled < 0.45, f"per-fold soft targets leaked: OOF macro-F1 {distilled:.3f}"
    assert mirrored < 0.45, f"held-out rows leaked: OOF macro-F1 {mirrored:.3f}"
    assert naive > 0.95, f"the naive build should show the leak: OOF macro-F1 {naive:.3f}"


def test_a_teacher_names_an_ensemble_with_or_without_its_prefix_else_an_experiment():
    ensembles = {"mean": None}
    assert teacher_artifact("mean", ensembles) == teacher_artifact("ensemble.mean", ensembles) == "ensemble.mean"
    assert teacher_artifact("lr.raw.s0", ensembles) == "lr.raw.s0"


def test_held_out_texts_follow_the_teachers_rows_and_refuse_other_rows(tmp_path):
    from types import SimpleNamespace

    import pandas as pd

    from kit.pseudo import held_out_texts

    pd.DataFrame({"id": ["a", "b", "c"], "text": ["甲", None, "丙"]}).to_parquet(tmp_path / "train.parquet")
    teacher = SimpleNamespace(ids=np.array(["c", "a", "b"], dtype=object), name="t.cleaned.s0")
    assert held_out_texts("pl", teacher, tmp_path / "train.parquet").tolist() == ["丙", "甲", ""]
    with pytest.raises(ValueError, match="'held_out' needs the base variant's train texts"):
        held_out_texts("pl", teacher, None)
    teacher.ids = np.array(["a", "z"], dtype=object)
    with pytest.raises(ValueError, match=r"train.parquet lacks 1 train rows teacher t.cleaned.s0 predicted "
                                         r"\(such as id 'z'\): re-run the teacher"):
        held_out_texts("pl", teacher, tmp_path / "train.parquet")
    pd.DataFrame({"id": ["a", "a"], "text": ["甲", "乙"]}).to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(ValueError, match=r"twice.parquet holds an id twice \('a'\)"):
        held_out_texts("pl", teacher, tmp_path / "twice.parquet")


def test_the_rules_command_passes_no_train_file_and_the_step_reads_the_layouts(monkeypatch):
    """The pseudo_rows rule declares the base variant's train texts as an input but does not pass them (its command
    is unchanged since before held_out); the step then reads them where kit.layout puts them, and only for held_out."""
    from kit import layout, pseudo

    passed = {}
    monkeypatch.setattr(pseudo, "write_pseudo_rows", lambda *args, **options: passed.update(options))
    inputs = {"teacher_npz": "t.npz", "teacher_manifest": "t.json", "pool": "pool.parquet", "train": None}
    outputs = {"rows": "rows.parquet", "manifest": "m.json"}
    pseudo.build_step("pl", settings(sources=["test", "held_out"], base_variant="raw"), inputs, outputs)
    assert passed["train_path"] == layout.variant_files("raw")["train"]
    pseudo.build_step("pl", settings(sources=["test"]), inputs, outputs)
    assert passed["train_path"] is None
    pseudo.build_step("pl", settings(sources=["held_out"]), {**inputs, "train": "given.parquet"}, outputs)
    assert passed["train_path"] == "given.parquet"
