import numpy as np
import pytest

from kit.ensemble.stacking import (
    ExactLogistic,
    exact_logistic,
    make_estimator,
    predict_probs,
    resolve_estimator,
    stack,
    stack_features,
    sum_zero_basis,
)
from kit.metrics import macro_f1, softmax


def test_estimators_resolve_by_bare_name_or_dotted_path():
    assert resolve_estimator("LogisticRegression").__name__ == "LogisticRegression"
    assert resolve_estimator("sklearn.tree.DecisionTreeClassifier").__name__ == "DecisionTreeClassifier"


def test_kit_defaults_sit_under_the_users_params_and_the_seed_under_theirs():
    model = make_estimator("LogisticRegression", {}, seed=7)
    assert model.max_iter == 1000 and model.random_state == 7  # sklearn's 100 stop short on stacked logits
    model = make_estimator("LogisticRegression", {"max_iter": 50, "random_state": 1}, seed=7)
    assert model.max_iter == 50 and model.random_state == 1
    with pytest.raises(ValueError, match="bad params"):
        make_estimator("LogisticRegression", {"no_such_option": 1}, seed=0)


@pytest.mark.parametrize(
    "name, message",
    [
        ("LogisticRegresion", "did you mean \\['LogisticRegression'"),
        ("sklearn.tree.NoSuchTree", "no class 'NoSuchTree' in module 'sklearn.tree'"),
        ("LinearRegression", "has no predict_proba"),
    ],
)
def test_unknown_or_unfit_estimators_are_refused_clearly(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_estimator(name)


def test_features_are_centred_logits_in_an_orthonormal_basis():
    first, second = np.array([[2.0, 1.0, 0.0]]), np.array([[0.0, 0.0, 3.0]])
    features = stack_features([first, second])
    assert features.shape == (1, 4) and features.dtype == np.float32  # C - 1 columns per member
    basis = sum_zero_basis(3)
    assert np.allclose(basis.T @ basis, np.eye(2)) and np.allclose(basis.sum(axis=0), 0)
    # Only the per-row constant is dropped: the centred logits come back from the features.
    assert np.allclose(basis @ features[0, :2], [1, 0, -1], atol=1e-6)
    assert np.allclose(basis @ features[0, 2:], [-1, -1, 2], atol=1e-6)
    assert np.allclose(features[0, :2], np.log(softmax(first))[0] @ basis)  # the same as from log-probabilities


def test_oof_rows_come_from_the_other_folds_and_test_from_the_mean_of_fold_models():
    # A prior-only level-2 model predicts the class shares of its training rows: easy to compute by hand.
    y = np.array([0, 0, 1, 1, 1, 2])
    fold_of = np.array([0, 0, 0, 1, 1, 1])
    features = np.zeros((6, 1), dtype=np.float32)
    stacked = stack(
        features,
        y,
        fold_of,
        np.zeros((2, 1), dtype=np.float32),
        3,
        estimator="DummyClassifier",
        params={"strategy": "prior"},
    )
    assert np.allclose(stacked.oof_probs[:3], [0, 2 / 3, 1 / 3])  # fold 0 sees fold 1's labels 1, 1, 2
    assert np.allclose(stacked.oof_probs[3:], [2 / 3, 1 / 3, 0])  # fold 1 sees fold 0's labels 0, 0, 1
    assert np.allclose(stacked.test_probs, [1 / 3, 1 / 2, 1 / 6])
    assert np.allclose(stacked.in_sample_probs, [1 / 3, 1 / 2, 1 / 6])  # one model on all six rows


def test_a_memorising_level_one_model_does_not_make_the_stacked_oof_near_perfect():
    # The level-1 "model" memorised the labels of the rows it trained on: its outputs are codes unique to each row,
    # which a flexible level-2 model can learn by heart. In-sample that looks perfect; cross-fitted it is chance.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    fold_of = np.arange(600) % 5
    features = stack_features([rng.normal(scale=3.0, size=(600, 3))])
    tree = "sklearn.tree.DecisionTreeClassifier"
    stacked = stack(features, y, fold_of, features[:10], 3, estimator=tree)
    assert macro_f1(y, stacked.in_sample_probs.argmax(axis=1), 3) > 0.99
    assert macro_f1(y, stacked.oof_probs.argmax(axis=1), 3) < 0.45
    logistic = stack(features, y, fold_of, features[:10], 3).oof_probs
    assert macro_f1(y, logistic.argmax(axis=1), 3) < 0.45


def test_stacking_a_useful_member_keeps_its_skill():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 900)
    logits = 2.0 * np.eye(3)[y] + rng.normal(size=(2, 900, 3))
    features = stack_features(list(logits))
    stacked = stack(features, y, np.arange(900) % 3, features[:50], 3, seed=0)
    member = macro_f1(y, logits[0].argmax(axis=1), 3)
    assert macro_f1(y, stacked.oof_probs.argmax(axis=1), 3) > member - 0.02
    assert np.allclose(stacked.test_probs.sum(axis=1), 1, atol=1e-5) and stacked.oof_probs.dtype == np.float32


def test_a_class_missing_from_training_gets_probability_zero():
    model = resolve_estimator("LogisticRegression")().fit(np.array([[0.0], [1.0], [0.1], [0.9]]), [0, 2, 0, 2])
    probs = predict_probs(model, np.array([[0.5]]), 3)
    assert probs[0, 1] == 0 and probs.sum() == pytest.approx(1.0)


def test_the_kits_logistic_regression_reaches_scikit_learns_optimum():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    y = rng.choice(3, 1200, p=[0.2, 0.5, 0.3])
    features = stack_features(list(1.5 * np.eye(3)[y] + rng.normal(size=(4, 1200, 3))))
    for C in (1.0, 0.05):
        ours = ExactLogistic(C=C).fit(features, y)
        theirs = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(features.astype(np.float64), y)
        assert np.abs(ours.predict_proba(features) - theirs.predict_proba(features)).max() < 1e-4


def test_a_fold_refit_is_the_model_a_cold_fit_on_those_rows_reaches():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 900)
    fold_of = np.arange(900) % 3
    features = stack_features(list(np.eye(3)[y] + rng.normal(size=(3, 900, 3))))
    full = ExactLogistic().fit(features, y, fold_of)
    refit = full.refit(features, np.where(fold_of != 1, y, -1))
    cold = ExactLogistic().fit(features, np.where(fold_of != 1, y, -1))
    assert np.abs(refit.predict_proba(features) - cold.predict_proba(features)).max() < 1e-5
    with pytest.raises(ValueError, match="whole folds"):
        full.refit(features, np.where(np.arange(900) % 2 == 0, y, -1))


def test_only_plain_logistic_regression_takes_the_kits_solver():
    assert exact_logistic("LogisticRegression", {"C": 0.5, "max_iter": 200})
    assert not exact_logistic("LogisticRegression", {"solver": "saga"})  # scikit-learn's own solver, as asked
    assert not exact_logistic("sklearn.tree.DecisionTreeClassifier", {})
