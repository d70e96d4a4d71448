import numpy as np
import pytest

from kit.ensemble.stacking import (
    ExactLogistic,
    exact_logistic,
    make_estimator,
    predict_probs,
    resolve_estimator,
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
    # The two stop where float32 rounding of the gradient leaves them: probabilities within 1e-4 of each other.
    assert np.abs(refit.predict_proba(features) - cold.predict_proba(features)).max() < 1e-4
    with pytest.raises(ValueError, match="whole folds"):
        full.refit(features, np.where(np.arange(900) % 2 == 0, y, -1))


def test_only_plain_logistic_regression_takes_the_kits_solver():
    assert exact_logistic("LogisticRegression", {"C": 0.5, "max_iter": 200})
    assert not exact_logistic("LogisticRegression", {"solver": "saga"})  # scikit-learn's own solver, as asked
    assert not exact_logistic("sklearn.tree.DecisionTreeClassifier", {})
