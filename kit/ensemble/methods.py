"""The ensemble methods, each declared once: the keys its config entry takes, whether it is fitted, its fit/apply.

Every method sees the members' probabilities prob_stack [M x n x C] (softmax of their logits) and returns the
ensemble's probabilities [n x C]; kit/ensemble/build.py does the rest for all of them alike (the fit on every OOF
row, the honest cross-fit of fitted methods, the class-weight search on top, the artifact). The implementations
are imported inside the adapters, so declaring the methods (the Snakefile checks every entry at plan time) loads
no numpy. A user's own method plugs in the same way from a module named in `plugins:` (kit/registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kit.ensemble.objectives import Objective
from kit.registry import Method, register
from kit.settings import Settings, setting


# scikit-learn's classifiers with predict_proba in kit.ensemble.stacking.ESTIMATOR_MODULES, where a bare name is looked
# up (tests/test_ensemble_methods.py checks this list against the installed scikit-learn).
LEVEL2_CLASSIFIERS = (
    "AdaBoostClassifier", "BaggingClassifier", "BernoulliNB", "CategoricalNB", "ComplementNB",
    "DecisionTreeClassifier", "DummyClassifier", "ExtraTreeClassifier", "ExtraTreesClassifier", "GaussianNB",
    "GradientBoostingClassifier", "HistGradientBoostingClassifier", "KNeighborsClassifier",
    "LinearDiscriminantAnalysis", "LogisticRegression", "LogisticRegressionCV", "MLPClassifier", "MultinomialNB",
    "NearestCentroid", "NuSVC", "QuadraticDiscriminantAnalysis", "RadiusNeighborsClassifier",
    "RandomForestClassifier", "SGDClassifier", "SVC", "StackingClassifier", "VotingClassifier",
)


# ------------------------------------------------------------------------------------------------ blends


def _fit_mean(params, names, prob_stack, y, seed):
    import numpy as np

    return np.full(len(prob_stack), 1.0 / len(prob_stack))


def _apply_weights(params, weights, prob_stack):
    from kit.ensemble.blend import blend

    return blend(prob_stack, weights)


@dataclass
class FixedParams(Settings):
    weights: dict[str, float] = setting(
        help="member name -> weight (normalised to sum 1); the members default to these names", ge=0, min_items=1)

    def check(self, path: str) -> None:
        if not any(self.weights.values()):
            from kit.settings import fail

            raise fail(f"{path}.weights", "must give at least one member a positive weight")


def _fit_fixed(params: FixedParams, names, prob_stack, y, seed):
    from kit.ensemble.blend import normalised

    return normalised([params.weights[name] for name in names], "fixed weights")


@dataclass
class WeightedParams(Settings):
    objective: Objective = setting("f1", "what the weights optimise on OOF rows: macro-F1 (the competition's score) "
                                         "or log-loss (smoother)")


def _fit_weighted(params: WeightedParams, names, prob_stack, y, seed):
    from kit.ensemble.blend import optimise_blend

    return optimise_blend(prob_stack, y, objective=params.objective)


@dataclass
class CaruanaParams(WeightedParams):
    """Caruana's greedy picks optimise the same objective as a weighted blend."""

    rounds: int = setting(25, "greedy picks, with replacement (Caruana et al. 2004)", ge=1)
    init: int = setting(0, "best single members picked before the greedy rounds", ge=0)
    bags: int = setting(1, "> 1 runs the greedy on seeded member subsets and averages, against lucky picks", ge=1)
    bag_fraction: float = setting(0.5, "share of the members each bag sees", gt=0, le=1)


def _fit_caruana(params: CaruanaParams, names, prob_stack, y, seed):
    from kit.ensemble.blend import caruana

    return caruana(prob_stack, y, rounds=params.rounds, objective=params.objective, init=params.init,
                   bags=params.bags, bag_fraction=params.bag_fraction, seed=seed)


# ------------------------------------------------------------------------------------------------ stacking


@dataclass
class StackParams(Settings):
    estimator: str = setting("LogisticRegression", "level-2 scikit-learn classifier: a bare class name or a dotted "
                                                   "path (any class with predict_proba)")
    params: dict[str, Any] = setting({}, "keyword arguments of the level-2 estimator (LogisticRegression gets "
                                         "max_iter 1000 unless given)")

    def check(self, path: str) -> None:
        # A dotted path is the user's own class, imported when the ensemble job runs; a bare name must be one of
        # scikit-learn's (checked here without importing it: scikit-learn would add a second to every plan).
        if "." not in self.estimator and self.estimator not in LEVEL2_CLASSIFIERS:
            import difflib

            from kit.settings import fail

            near = difflib.get_close_matches(self.estimator, LEVEL2_CLASSIFIERS, n=3, cutoff=0.5)
            raise fail(f"{path}.estimator", f"{self.estimator!r} is not a scikit-learn classifier with predict_proba"
                       + (f"; did you mean {near}?" if near else "")
                       + "; give a dotted path for any other (e.g. 'sklearn.ensemble.HistGradientBoostingClassifier')")


def _level2_features(logit_stack):
    """kit.ensemble.stacking.stack_features of the members' logits; computed once per cross-fit."""
    from kit.ensemble.honest import scope_of
    from kit.ensemble.stacking import stack_features

    scope = scope_of(logit_stack)
    if scope is not None and "level2_features" in scope.cache:
        return scope.cache["level2_features"]
    features = stack_features(logit_stack)
    if scope is not None:
        scope.cache["level2_features"] = features
    return features


def _stack_types(params: StackParams) -> tuple[str, ...]:
    """The kit's exact logistic solver, and a level-2 model named by a dotted path (the user's own class): kit
    predict may load those back."""
    return ("kit.ensemble.stacking.ExactLogistic",) + ((params.estimator,) if "." in params.estimator else ())


def _fit_stack(params: StackParams, names, logit_stack, y, seed):
    """The level-2 model on the rows labelled >= 0 (a cross-fit hides the held-out fold as -1). Plain
    LogisticRegression goes to the kit's exact solver (scikit-learn's objective to its optimum): in a cross-fit the
    full fit keeps its curvature per fold and each fold's fit takes a few Newton steps from it, reaching what a cold
    fit would. Any other estimator goes to scikit-learn."""
    import numpy as np

    from kit.ensemble.honest import scope_of
    from kit.ensemble.stacking import ExactLogistic, exact_logistic, make_estimator, one_blas_thread

    features, rows, scope = _level2_features(logit_stack), y >= 0, scope_of(logit_stack)
    n_classes = logit_stack.shape[2]
    with one_blas_thread():
        if n_classes >= 3 and exact_logistic(params.estimator, params.params) and \
                len(np.unique(y[rows])) == n_classes:
            full = scope.cache.get("exact_logistic") if scope is not None else None
            if full is not None:
                return full.refit(features, y)
            model = ExactLogistic(**params.params).fit(features, y, None if scope is None else scope.fold_of)
            if scope is not None:
                scope.cache["exact_logistic"] = model
            return model
        return make_estimator(params.estimator, params.params, seed).fit(features[rows], y[rows])


def _apply_stack(params: StackParams, model, logit_stack):
    from kit.ensemble.stacking import one_blas_thread, predict_probs

    with one_blas_thread():
        return predict_probs(model, _level2_features(logit_stack), logit_stack.shape[2])


# ------------------------------------------------------------------------------------------------ voting


def _fit_nothing(params, names, prob_stack, y, seed):
    return None


def _apply_hard_vote(params, fitted, prob_stack):
    from kit.ensemble.voting import hard_vote

    return hard_vote(prob_stack)


def _apply_soft_vote(params, fitted, prob_stack):
    from kit.ensemble.voting import soft_vote

    return soft_vote(prob_stack)


@dataclass
class MultiRoundParams(Settings):
    n_voters: int = setting(3, "voters per round (the winning team used 3-4)", ge=2)
    candidates: int = setting(5, "the best pool member votes with the least agreeing of the next candidates-1 best",
                              ge=2)
    stop_agreement: float = setting(0.95, "stop once the result agrees this much with every voter", gt=0, le=1)
    max_rounds: int = setting(10, "most voting rounds", ge=1)

    def check(self, path: str) -> None:
        if self.candidates < self.n_voters:
            from kit.settings import fail

            raise fail(f"{path}.candidates", f"must be at least n_voters ({self.n_voters}), got {self.candidates}")


def _fit_multiround(params: MultiRoundParams, names, prob_stack, y, seed):
    from kit.ensemble.voting import fit_multi_round_vote

    return fit_multi_round_vote(prob_stack, y, names=names, n_voters=params.n_voters, candidates=params.candidates,
                                stop_agreement=params.stop_agreement, max_rounds=params.max_rounds)


def _apply_vote_plan(params, plan, prob_stack):
    from kit.ensemble.voting import apply_vote_plan

    return apply_vote_plan(plan, prob_stack)


# Each method once: its settings, whether its fit learns from OOF rows (then it is cross-fitted), its fit and apply.
for declaration in (
    Method("mean", Settings, False, _fit_mean, _apply_weights, help="the members' probabilities averaged"),
    Method("fixed", FixedParams, False, _fit_fixed, _apply_weights, help="a weighted average of given weights"),
    Method("weighted", WeightedParams, True, _fit_weighted, _apply_weights, help="weights optimised on OOF rows"),
    Method("caruana", CaruanaParams, True, _fit_caruana, _apply_weights, help="greedy selection (Caruana 2004)"),
    Method("stack", StackParams, True, _fit_stack, _apply_stack, help="a level-2 classifier on the members",
           inputs="logits", fitted_types=_stack_types),
    Method("vote_hard", Settings, False, _fit_nothing, _apply_hard_vote, help="majority vote of the decisions"),
    Method("vote_soft", Settings, False, _fit_nothing, _apply_soft_vote, help="vote of the probabilities"),
    Method("vote_multiround", MultiRoundParams, True, _fit_multiround, _apply_vote_plan, min_members=3,
           help="rounds of 3-4 diverse voters (the winners' multi-round voting)",
           fitted_types=("kit.ensemble.voting.VotePlan",)),
):
    register(declaration)
