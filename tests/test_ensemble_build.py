import numpy as np
import pytest

from kit.artifacts import Artifact
from kit.config import EnsembleEntry
from kit.ensemble.build import (agreement_matrix, apply_combination, build_ensemble, combination_input, fit_ensemble,
                                refuse_incompatible, to_logits)
from kit import registry
from kit.metrics import softmax

N_ROWS, N_TEST = 300, 40
CLASSES = np.array(["-1", "0", "1"])


def make_artifact(name, oof_logits, test_logits, y, fold_of, fold_hash="folds-v1", ids=None, classes=CLASSES):
    return Artifact(
        ids=np.array([f"r{i}" for i in range(len(y))]) if ids is None else ids,
        labels=y,
        fold_of=fold_of,
        oof_logits=np.asarray(oof_logits, dtype=np.float32),
        test_ids=np.array([f"t{i}" for i in range(len(test_logits))]),
        test_logits=np.asarray(test_logits, dtype=np.float32),
        classes=classes,
        manifest={"name": name, "kind": "experiment", "fold_hash": fold_hash},
    )


def experiments(strengths=(0.6, 1.0, 1.4, 1.8), seed=0, fold_of=None):
    """Members of increasing strength over the same rows and folds; their errors are partly shared."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, N_ROWS, p=[0.2, 0.5, 0.3])
    fold_of = (np.arange(N_ROWS) % 5).astype(np.int8) if fold_of is None else fold_of
    shared = rng.normal(size=(N_ROWS + N_TEST, 3))
    y_all = np.concatenate([y, rng.integers(0, 3, N_TEST)])
    members = []
    for m, strength in enumerate(strengths):
        logits = strength * np.eye(3)[y_all] + 0.6 * shared + 0.8 * rng.normal(size=(N_ROWS + N_TEST, 3))
        members.append(make_artifact(f"exp{m}", logits[:N_ROWS], logits[N_ROWS:], y, fold_of))
    return members


def noise_members(n_members=20, n_rows=600, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_rows)
    fold_of = (np.arange(n_rows) % 5).astype(np.int8)
    return [
        make_artifact(f"noise{m}", rng.normal(size=(n_rows, 3)), rng.normal(size=(2, 3)), y, fold_of)
        for m in range(n_members)
    ]


def quiet(line):
    pass


@pytest.mark.parametrize("method", registry.names(registry.METHODS))
def test_every_method_builds_a_valid_scored_artifact(method):
    members = experiments()
    spec = {"method": method}
    if method == "fixed":
        spec["weights"] = {"exp0": 0.2, "exp1": 0.3, "exp2": 0.5, "exp3": 0.0}
    ensemble = build_ensemble(f"e_{method}", spec, members, log=quiet)
    manifest = ensemble.manifest
    assert manifest["kind"] == "ensemble" and manifest["method"] == method and manifest["fold_hash"] == "folds-v1"
    assert manifest["members"] == ["exp0", "exp1", "exp2", "exp3"]
    assert set(manifest["member_hashes"]) == set(manifest["members"])
    assert 0 < manifest["honest_macro_f1"] <= 1 and len(manifest["scores"]["per_class_f1"]) == 3
    assert manifest["honest_scores"]["oof_macro_f1"] == manifest["honest_macro_f1"]
    assert np.allclose(softmax(ensemble.test_logits).sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(ensemble.ids, members[0].ids) and np.array_equal(ensemble.test_ids, members[0].test_ids)
    fitted = registry.method(method).fitted
    assert ("cross_fit" in manifest) == fitted
    if method in ("mean", "fixed", "vote_hard", "vote_soft"):
        assert manifest["honest_macro_f1"] == manifest["scores"]["oof_macro_f1"]  # nothing fitted, nothing flattered


def test_fixed_weights_by_hand():
    members = experiments(strengths=(0.6, 1.0, 1.4))
    ensemble = build_ensemble(
        "fixed", {"method": "fixed", "weights": {"exp0": 2, "exp1": 3, "exp2": 5}}, members, log=quiet
    )
    expected = sum(w * softmax(m.oof_logits) for w, m in zip((0.2, 0.3, 0.5), members))
    assert np.allclose(softmax(ensemble.oof_logits), expected, atol=1e-5)
    assert ensemble.manifest["weights"] == pytest.approx({"exp0": 0.2, "exp1": 0.3, "exp2": 0.5})


def test_class_weights_are_folded_into_the_logits():
    members = experiments()
    ensemble = build_ensemble("mean_cw", {"method": "mean", "class_weights": True}, members, log=quiet)
    weights = np.array(list(ensemble.manifest["class_weights"].values()))
    mean_test = np.mean([softmax(m.test_logits) for m in members], axis=0)
    assert np.array_equal(ensemble.test_logits.argmax(axis=1), (mean_test * weights).argmax(axis=1))
    assert np.allclose(
        softmax(ensemble.test_logits), mean_test * weights / (mean_test * weights).sum(1, keepdims=True), atol=1e-5
    )
    assert sorted(ensemble.manifest["cross_fit"]) == ["0", "1", "2", "3", "4"]


def test_fitting_on_noise_flatters_the_naive_score_but_not_the_honest_one():
    ensemble = build_ensemble("noise", {"method": "caruana", "class_weights": True}, noise_members(), log=quiet)
    naive, honest = ensemble.manifest["scores"]["oof_macro_f1"], ensemble.manifest["honest_macro_f1"]
    assert naive > honest + 0.05 and honest < 0.37
    assert ensemble.manifest["gain_over_best_member"]["honest"] < ensemble.manifest["gain_over_best_member"]["naive"]


def test_stacking_a_memorising_member_is_not_near_perfect_out_of_fold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    fold_of = (np.arange(500) % 5).astype(np.int8)
    codes = make_artifact("memoriser", rng.normal(scale=3.0, size=(500, 3)), rng.normal(size=(5, 3)), y, fold_of)
    spec = {"method": "stack", "estimator": "sklearn.tree.DecisionTreeClassifier"}
    manifest = build_ensemble("stacked", spec, [codes], log=quiet).manifest
    assert manifest["scores"]["oof_macro_f1"] > 0.99 and manifest["honest_macro_f1"] < 0.45


def test_round_trip_and_an_ensemble_of_ensembles(tmp_path):
    members = experiments()
    spec = {"method": "caruana", "members": ["exp1", "exp2", "exp3"], "rounds": 10, "class_weights": True}
    ensemble = build_ensemble("car", spec, members, log=quiet)
    ensemble.save(tmp_path / "ensemble.car")
    loaded = Artifact.load(tmp_path / "ensemble.car")
    for array in ("ids", "labels", "fold_of", "oof_logits", "test_ids", "test_logits", "classes"):
        assert np.array_equal(getattr(loaded, array), getattr(ensemble, array))
    assert loaded.manifest == ensemble.manifest
    on_top = build_ensemble("top", {"method": "mean", "members": ["car", "exp0"]}, [loaded, *members], log=quiet)
    expected = (softmax(loaded.oof_logits) + softmax(members[0].oof_logits)) / 2
    assert np.allclose(softmax(on_top.oof_logits), expected, atol=1e-5)
    assert on_top.manifest["members"] == ["car", "exp0"]


@pytest.mark.parametrize("spec", [{"method": "stack"}, {"method": "vote_multiround", "class_weights": True},
                                  {"method": "weighted", "class_weights": True}, {"method": "vote_hard"}])
def test_the_fit_on_every_oof_row_is_what_made_the_test_logits(spec):
    members = experiments()
    ensemble, fitted = fit_ensemble("e", spec, members, log=quiet)
    entry = EnsembleEntry.parse_setting(spec, "ensembles.e")
    test_stack = combination_input(entry, [member.test_logits for member in members])
    assert np.array_equal(to_logits(apply_combination(entry, fitted, test_stack)), ensemble.test_logits)


def test_multi_round_voting_logs_its_rounds():
    lines = []
    ensemble = build_ensemble("votes", {"method": "vote_multiround", "max_rounds": 3}, experiments(), log=lines.append)
    rounds = ensemble.manifest["vote_rounds"]
    assert 1 <= len(rounds) <= 3 and "stop" in rounds[-1] and rounds[0]["voters"][0] == "exp3"
    assert any(line.startswith("  round 1: voters exp3") for line in lines)
    assert any("OOF macro-F1 naive" in line and "honest" in line for line in lines)


def test_rows_never_held_out_are_predicted_but_not_scored():
    fold_of = (np.arange(N_ROWS) % 5).astype(np.int8)
    fold_of[:10] = -1
    ensemble = build_ensemble(
        "partial", {"method": "weighted", "class_weights": True}, experiments(fold_of=fold_of), log=quiet
    )
    assert np.all(np.isfinite(ensemble.oof_logits)) and ensemble.manifest["scores"]["n_folds"] == 5


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.manifest.update(fold_hash="folds-v2"), "exp2 vs exp0: fold_hash differs"),
        (lambda a: setattr(a, "ids", a.ids[::-1].copy()), "exp2 vs exp0: ids are the same but in another order"),
        (lambda a: setattr(a, "ids", np.char.add(a.ids, "x")), "exp2 vs exp0: ids differ"),
        (lambda a: setattr(a, "classes", np.array(["neg", "neu", "pos"])), "exp2 vs exp0: classes differ"),
        (lambda a: setattr(a, "test_ids", a.test_ids[::-1].copy()), "exp2 vs exp0: test_ids differ"),
        (lambda a: setattr(a, "fold_of", np.roll(a.fold_of, 1)), "exp2 vs exp0: fold_of differs"),
    ],
)
def test_mismatched_members_are_refused_by_name(change, message):
    members = experiments()
    change(members[2])
    with pytest.raises(ValueError, match=message):
        refuse_incompatible(members)
    with pytest.raises(ValueError, match=message):
        build_ensemble("bad", {"method": "mean"}, members, log=quiet)


def test_a_member_given_twice_is_refused():
    members = experiments()
    with pytest.raises(ValueError, match="\\['exp1'\\] are given more than once"):
        refuse_incompatible([members[0], members[1], members[1]])


def test_near_identical_members_are_warned_about():
    members = experiments()
    twin = make_artifact(
        "exp3_twin", members[3].oof_logits + 1e-3, members[3].test_logits, members[3].labels, members[3].fold_of
    )
    with pytest.warns(UserWarning, match="exp3 and exp3_twin are near-identical") as warned:
        manifest = build_ensemble("twins", {"method": "mean"}, [*members, twin], log=quiet).manifest
    assert len(warned) == 1 and manifest["warnings"] == [str(warned[0].message)]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"method": "caruana", "rouds": 5}, "'ensembles.bad.rouds': is not a key"),  # test_ensemble_methods
        ({"method": "fixed", "weights": {"exp0": 1, "exp9": 1}, "members": ["exp0", "exp1"]}, "fixed weights name"),
        ({"method": "mean", "members": ["exp0", "zzz"]}, "members \\['zzz'\\] are not among the artifacts given"),
        ({"method": "stack", "estimator": "NoSuchClassifier"}, "is not a scikit-learn classifier"),
    ],
)
def test_bad_specs_are_refused_with_the_ensemble_and_key_named(spec, message):
    with pytest.raises(ValueError, match=message):
        build_ensemble("bad", spec, experiments(), log=quiet)


def test_agreement_matrix_names_its_rows_and_columns():
    frame = agreement_matrix(experiments())
    assert list(frame.index) == list(frame.columns) == ["exp0", "exp1", "exp2", "exp3"]
    assert np.allclose(np.diag(frame.to_numpy()), 1.0) and np.allclose(frame.to_numpy(), frame.to_numpy().T)


def degenerate_members():
    """What a second seed of a deterministic model and a collapsed model give an ensemble: an exact duplicate, a
    scaled copy (collinear logits), and a member that predicts one class on every row."""
    members = experiments()
    first = members[0]
    duplicate = make_artifact("exp0_seed1", first.oof_logits, first.test_logits, first.labels, first.fold_of)
    scaled = make_artifact("exp0_scaled", 2 * first.oof_logits, 2 * first.test_logits, first.labels, first.fold_of)
    constant = np.tile(np.array([0.0, 3.0, 0.0], dtype=np.float32), (N_ROWS + N_TEST, 1))
    one_class = make_artifact("one_class", constant[:N_ROWS], constant[N_ROWS:], first.labels, first.fold_of)
    return [*members, duplicate, scaled, one_class]


@pytest.mark.parametrize("method", registry.names(registry.METHODS))
def test_every_method_stays_defined_on_duplicate_collinear_and_one_class_members(method):
    members = degenerate_members()
    spec = {"method": method}
    if method == "fixed":
        spec["weights"] = {member.name: 1.0 for member in members}
    lines = []
    artifact, _ = fit_ensemble(f"ensemble.{method}", spec, members, lines.append)
    assert np.isfinite(artifact.oof_logits).all() and np.isfinite(artifact.test_logits).all()
    if method != "fixed":  # explicit weights name every member: nothing is dropped
        assert "exp0_seed1" not in artifact.manifest["members"]
        assert artifact.manifest["dropped_duplicates"] == {"exp0_seed1": "exp0"}
        assert any("exp0_seed1 is an exact duplicate of exp0: dropped" in line for line in lines)
