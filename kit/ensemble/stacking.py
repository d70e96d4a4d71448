"""Stacking's parts: level-2 features from the members' logits, scikit-learn classifiers by name, and the kit's exact
logistic regression.

The `stack` ensemble method (kit/ensemble/methods.py) fits a level-2 model on the features of the OOF rows and is
cross-fitted like every fitted method: the model for fold k never saw fold k, and the one fitted on every OOF row
predicts the test rows. The default level-2 model, LogisticRegression, is fitted by the kit's own solver
(ExactLogistic): scikit-learn's objective, solved to its optimum by Newton steps whose curvature the folds share.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np


def sum_zero_basis(n_classes: int) -> np.ndarray:
    """np array [C x (C-1)]: an orthonormal basis of the vectors whose entries sum to 0 (Helmert's)."""
    basis = np.zeros((n_classes, n_classes - 1))
    for j in range(1, n_classes):
        basis[:j, j - 1] = 1.0
        basis[j, j - 1] = -j
        basis[:, j - 1] /= np.sqrt(j * (j + 1))
    return basis


def stack_features(member_logits: Sequence[np.ndarray]) -> np.ndarray:
    """Level-2 features [n x M*(C-1)] float32, member-major, from M arrays of logits [n x C]: each member's logits in
    an orthonormal basis of the centred plane (sum_zero_basis). Softmax ignores a per-row constant, so these are also
    its log-probabilities, centred; the basis drops the one redundant direction without changing distances or what
    a linear model can fit (one column fewer per member), and logistic regression converges in
    about a quarter of the iterations it needs on raw log-probabilities."""
    n_rows, n_classes = member_logits[0].shape
    basis = sum_zero_basis(n_classes).astype(np.float32)
    width = n_classes - 1
    features = np.empty((n_rows, len(member_logits) * width), dtype=np.float32)
    for m, logits in enumerate(member_logits):
        np.matmul(logits, basis, out=features[:, m * width : (m + 1) * width])
    return features


# Where bare names are looked up, in order; scanning all of scikit-learn (all_estimators) takes seconds.
ESTIMATOR_MODULES = (
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.neighbors",
    "sklearn.svm",
    "sklearn.tree",
    "sklearn.naive_bayes",
    "sklearn.neural_network",
    "sklearn.discriminant_analysis",
    "sklearn.dummy",
)


def resolve_estimator(name: str):
    """The scikit-learn classifier class called `name`: a bare class name such as 'LogisticRegression' (looked up in
    ESTIMATOR_MODULES) or a dotted path such as 'sklearn.ensemble.HistGradientBoostingClassifier'. A clear error,
    with near names, when there is none or when it cannot give probabilities."""
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        try:
            estimator = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            raise ValueError(f"level-2 estimator {name!r}: no class {class_name!r} in module {module_name!r}") from None
    else:
        for module_name in ESTIMATOR_MODULES:  # imported one by one: the usual names sit in the first module
            estimator = getattr(importlib.import_module(module_name), name, None)
            if isinstance(estimator, type):
                break
        else:
            import difflib

            known = []
            for module_name in ESTIMATOR_MODULES:
                module = importlib.import_module(module_name)
                known += [n for n in getattr(module, "__all__", []) if hasattr(getattr(module, n), "predict_proba")]
            near = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            raise ValueError(
                f"level-2 estimator {name!r} is not a classifier in {', '.join(ESTIMATOR_MODULES)}"
                + (f"; did you mean {near}?" if near else "")
                + "; give a dotted path for any other (e.g. 'sklearn.ensemble.HistGradientBoostingClassifier')"
            )
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(f"level-2 estimator {name!r} has no predict_proba: stacking needs probabilities")
    return estimator


# Defaults the kit gives a level-2 estimator where scikit-learn's own fall short on stacked logits; the user's
# params win. lbfgs needs a little over its default 100 iterations on a handful of members' logits.
LEVEL2_DEFAULTS = {"LogisticRegression": {"max_iter": 1000}}


def make_estimator(name: str, params: dict | None, seed: int):
    """An unfitted level-2 model with LEVEL2_DEFAULTS under the user's params, and random_state=seed unless they
    give one."""
    estimator_class = resolve_estimator(name)
    options = {**LEVEL2_DEFAULTS.get(estimator_class.__name__, {}), **(params or {})}
    try:
        model = estimator_class(**options)
    except TypeError as error:
        raise ValueError(f"level-2 estimator {name!r}: bad params {options}: {error}") from None
    if "random_state" in model.get_params() and "random_state" not in options:
        model.set_params(random_state=seed)
    return model


def predict_probs(model, features: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba as [rows x n_classes]: a class the model never saw in training gets probability 0."""
    probs = np.zeros((len(features), n_classes), dtype=np.float32)
    probs[:, model.classes_.astype(np.int64)] = model.predict_proba(features)
    return probs


# LogisticRegression's params the kit's solver honours; any other sends the fit to scikit-learn.
EXACT_LOGISTIC_PARAMS = ("C", "max_iter", "random_state")


def exact_logistic(estimator: str, params: dict | None) -> bool:
    """Whether the kit fits this level-2 model itself: LogisticRegression with no params beyond C and max_iter (and
    random_state, which an exact fit has no use for)."""
    from sklearn.linear_model import LogisticRegression

    return resolve_estimator(estimator) is LogisticRegression and set(params or {}) <= set(EXACT_LOGISTIC_PARAMS)


class ExactLogistic:
    """scikit-learn's LogisticRegression for three or more classes (multinomial loss, L2 penalty 1/(2C) on the
    coefficients, free intercepts: lbfgs's objective), fitted to its optimum rather than to lbfgs's tolerance.

    features [n x F] float32. The parameters live in an orthonormal basis of the sum-zero class space (theta
    [(F+1) x (C-1)], the intercepts last), where the penalised objective is strictly convex: one optimum, whatever the
    start. The first fit runs L-BFGS in coordinates whitened by the features' Gram matrix. Given the folds, it then
    sums the Hessian fold by fold in one pass (it depends on the predicted probabilities, not on labels), and every
    refit on some folds' rows starts from the first fit and takes Newton steps with the sum of its folds' Hessians: a
    few gradient passes instead of a fresh fit. Every fit stops when its Newton decrement vanishes (down to float32
    rounding), so where it stops does not depend on where it started: a fold model is the one a cold start would
    reach, and the start carries nothing from the held-out fold.
    """

    NEWTON_TOLERANCE = 1e-10  # the Newton decrement (twice the objective's expected decrease) of a converged fit
    MAX_NEWTON_STEPS = 30  # from the first fit, a fold model takes 2 to 4

    def __init__(self, C: float = 1.0, max_iter: int = 1000, random_state=None):
        self.C, self.max_iter = float(C), int(max_iter)

    def fit(self, features: np.ndarray, y: np.ndarray, fold_of: np.ndarray | None = None) -> "ExactLogistic":
        """Fit on the rows with y >= 0, all C classes among them: L-BFGS from zero, then Newton steps. With fold_of
        [n], also keep the Hessian of each fold's rows for refit."""
        from scipy.optimize import minimize

        rows = y >= 0
        self.classes_ = np.arange(y[rows].max() + 1)
        self.basis = sum_zero_basis(len(self.classes_))
        n_rows, n_features = int(rows.sum()), features.shape[1]
        # Every pass weighs the rows not labelled by 0 rather than copying the labelled ones (a fold fit's 80%).
        gram = _weighted_gram(features, rows.astype(np.float32)) / n_rows
        unwhiten = _whitening(gram)
        shape = (n_features + 1, len(self.classes_) - 1)

        def loss_and_gradient(phi):
            loss, gradient = self._loss_gradient(unwhiten @ phi.reshape(shape), features, y)
            return loss, (unwhiten.T @ gradient).ravel()

        # A loose tolerance: the Newton steps below finish the job in two or three passes.
        options = {"maxiter": self.max_iter, "gtol": 1e-4}
        found = minimize(loss_and_gradient, np.zeros(shape).ravel(), jac=True, method="L-BFGS-B", options=options)
        self.theta = unwhiten @ found.x.reshape(shape)
        if fold_of is None:
            self.fold_of, self.fold_hessians = None, {}
            hessian = self._hessian_sum(features[rows] if n_rows < len(y) else features)
        else:
            self.fold_of = fold_of
            self.fold_hessians = {
                int(fold): self._hessian_sum(features[fold_of == fold]) for fold in np.unique(fold_of[rows])
            }
            hessian = sum(self.fold_hessians[int(fold)] for fold in np.unique(fold_of[rows]))
        self._newton(features, y, hessian)
        return self

    def refit(self, features: np.ndarray, y_train: np.ndarray) -> "ExactLogistic":
        """This model refitted on the rows labelled in y_train, whole folds of the fit's fold_of: Newton steps from
        this fit, with the sum of those folds' Hessians."""
        rows = y_train >= 0
        folds = np.unique(self.fold_of[rows])
        if set(folds) - set(self.fold_hessians) or (self.fold_of[~rows] == folds[:, None]).any():
            raise ValueError("refit: the rows labelled must be whole folds of the first fit's fold_of")
        refit = ExactLogistic(self.C, self.max_iter)
        refit.classes_, refit.basis, refit.theta = self.classes_, self.basis, self.theta.copy()
        refit._newton(features, y_train, sum(self.fold_hessians[int(fold)] for fold in folds))
        return refit

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """np array [n x C] float64."""
        return self._probabilities(self._logits(self.theta, features))[0].T

    # The objective, scaled as scikit-learn scales it: mean cross-entropy + ||coefficients||^2 / (2 C n).

    def _logits(self, theta: np.ndarray, features: np.ndarray) -> np.ndarray:
        """[C x n] float64, class-planar so that the per-class passes below are contiguous."""
        reduced = features @ theta[:-1].astype(np.float32) + theta[-1].astype(np.float32)
        return self.basis @ reduced.T.astype(np.float64)

    @staticmethod
    def _probabilities(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [C x n], log of the softmax's normaliser [n]) of logits [C x n]."""
        peak = logits.max(axis=0)
        exp = np.exp(logits - peak)
        total = exp.sum(axis=0)
        exp /= total
        return exp, peak + np.log(total)

    def _loss_gradient(self, theta: np.ndarray, features: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective and its gradient over the rows labelled >= 0 of features [n x F]: the others (a cross-fit's
        held-out fold) weigh nothing, so no fit needs a copy of its training rows."""
        labelled = y >= 0
        n_rows = int(labelled.sum())
        rows = np.flatnonzero(labelled) if n_rows < len(y) else np.arange(len(y))
        logits = self._logits(theta, features)
        residual, log_total = self._probabilities(logits)
        loss = float(np.sum(log_total[rows] - logits[y[rows], rows]) / n_rows)
        residual[y[rows], rows] -= 1.0
        if n_rows < len(y):
            residual[:, ~labelled] = 0.0
        reduced = (self.basis.T @ residual).astype(np.float32)  # [(C-1) x n]
        gradient = np.empty_like(theta)
        gradient[:-1] = (reduced @ features).T  # twice as fast as features.T @ reduced.T
        gradient[-1] = reduced.sum(axis=1, dtype=np.float64)
        gradient /= n_rows
        penalty = 1.0 / (self.C * n_rows)
        gradient[:-1] += penalty * theta[:-1]
        return loss + 0.5 * penalty * float(np.sum(theta[:-1] ** 2)), gradient

    def _hessian_sum(self, features: np.ndarray) -> np.ndarray:
        """The sum over these rows of the loss's Hessian at theta, [P x P] with P = (F+1)(C-1) (theta raveled)."""
        n_features, width = self.theta.shape[0] - 1, self.theta.shape[1]
        probs = self._probabilities(self._logits(self.theta, features))[0]
        reduced = self.basis.T @ probs  # [(C-1) x n]
        blocks = np.zeros((n_features + 1, width, n_features + 1, width))
        for a in range(width):
            for b in range(a, width):
                # (B^T (diag p - p p^T) B)[a, b] per row: the weight of x x^T in block (a, b)
                weight = (self.basis[:, a] * self.basis[:, b]) @ probs - reduced[a] * reduced[b]
                blocks[:, a, :, b] = _weighted_gram(features, weight.astype(np.float32))
                blocks[:, b, :, a] = blocks[:, a, :, b].T
        return blocks.reshape((n_features + 1) * width, (n_features + 1) * width)

    def _newton(self, features: np.ndarray, y: np.ndarray, hessian_sum: np.ndarray) -> None:
        """Newton steps from theta with a fixed Hessian (hessian_sum over these rows, scaled, plus the penalty's),
        halved while they raise the objective, until the decrement vanishes."""
        from scipy.linalg import cho_factor, cho_solve

        n_rows = int((y >= 0).sum())
        penalty = np.zeros(self.theta.shape)
        penalty[:-1] = 1.0 / (self.C * n_rows)
        hessian = hessian_sum / n_rows + np.diag(penalty.ravel())
        # Nearly certain rows flatten the intercepts' curvature; a trace of ridge keeps the factor defined. It moves
        # only the path of the steps: their fixed point is where the gradient vanishes.
        hessian[np.diag_indices_from(hessian)] += 1e-10 * hessian.diagonal().max()
        try:
            factor = cho_factor(hessian)
        except np.linalg.LinAlgError:  # collinear members leave the intercepts' block singular in float64
            hessian[np.diag_indices_from(hessian)] += 1e-6 * hessian.diagonal().max()
            factor = cho_factor(hessian)
        loss, gradient = self._loss_gradient(self.theta, features, y)
        for _ in range(self.MAX_NEWTON_STEPS):
            step = cho_solve(factor, gradient.ravel()).reshape(self.theta.shape)
            if float(np.sum(step * gradient)) < self.NEWTON_TOLERANCE:
                return
            for _ in range(10):
                trial_loss, trial_gradient = self._loss_gradient(self.theta - step, features, y)
                if trial_loss <= loss:
                    break
                step = step / 2
            else:
                return  # nothing lowers the objective any more: float32 rounding has the last word
            self.theta, loss, gradient = self.theta - step, trial_loss, trial_gradient


def _whitening(gram: np.ndarray) -> np.ndarray:
    """U [(F+1) x (F+1)] with U^T gram U = I on the span of the features: theta = U phi puts the fit in
    coordinates where the features' Gram matrix is the identity, which L-BFGS converges in fastest.

    From the eigendecomposition rather than a Cholesky factor, because members that are copies or multiples of
    each other (a second seed of a deterministic model), or a member constant on every row (collinear with the
    intercept), make gram singular: directions with (next to) no variance get a unit scale instead of an
    infinite one, and the penalty keeps their coefficients at zero.
    """
    values, vectors = np.linalg.eigh(gram)
    floor = 1e-8 * max(float(values.max()), 1e-300)
    return vectors / np.sqrt(np.where(values > floor, values, 1.0))


def _weighted_gram(features: np.ndarray, weight: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """[(F+1) x (F+1)] float64: the sum over rows of weight * x x^T with x = [features, 1]; float32 products over
    blocks of rows (which stay in cache), summed in float64."""
    n_features = features.shape[1]
    gram = np.zeros((n_features + 1, n_features + 1))
    for start in range(0, len(features), chunk):
        block, block_weight = features[start : start + chunk], weight[start : start + chunk]
        weighted = block * block_weight[:, None]
        gram[:-1, :-1] += block.T @ weighted
        gram[-1, :-1] += weighted.sum(axis=0, dtype=np.float64)
        gram[-1, -1] += block_weight.sum(dtype=np.float64)
    gram[:-1, -1] = gram[-1, :-1]
    return gram


def one_blas_thread():
    """A context in which BLAS runs on one thread. The level-2 features are thin (M*C columns), so a second thread
    gains little, while threads that wait on each other make a fit 4 to 30 times slower on a shared 2-core machine
    (snakemake -j2, or any other busy process). threadpoolctl comes with scikit-learn."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
