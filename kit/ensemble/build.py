"""Ensembles as artifacts: guardrails over the members, the methods, and the builder that scores them honestly.

build_ensemble turns one entry of the config's `ensembles:` block and its member artifacts (experiments or other
ensembles) into an Artifact of kind 'ensemble'. Its oof_logits and test_logits are log-probabilities (float32):
softmax gives the ensemble's probabilities back, and argmax is its decision, class weights included (log(w * p)).
Its oof_logits are the cross-fitted ones: each row comes from weights (or a level-2 model) fitted without that
row's fold, so an ensemble built on top of this one sees honest predictions, not flattering in-sample ones.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np

from kit.artifacts import Artifact, provenance, sha256_json
from kit.ensemble.blend import blend, caruana, normalised, optimise_blend, shared_rounds
from kit.ensemble.honest import cross_fit, hide_labels
from kit.ensemble.spec import FITTED_METHODS, EnsembleSpec
from kit.ensemble.stacking import stack, stack_features
from kit.ensemble.voting import VotePlan, agreement, apply_vote_plan, fit_multi_round_vote, hard_vote, soft_vote
from kit.ensemble.weights import TINY, apply_class_weights, class_weight_search
from kit.metrics import macro_f1, row_argmax, score_summary, softmax

NEAR_IDENTICAL = 0.995  # share of OOF rows with the same argmax above which two members are warned about
SHOWN_AGREEMENT = 12  # the log prints the agreement matrix up to this many members (the manifest always has it)

# ---------------------------------------------------------------------------------------------- guardrails


def check_compatible(artifacts: Sequence[Artifact], near_identical: float = NEAR_IDENTICAL) -> list[str]:
    """Refuse members that cannot be combined; warn about near-identical ones.

    Raises ValueError naming every artifact whose fold-file hash, ids (or their order), fold_of, labels, test ids
    or classes differ from the first member's. Returns (and warns with) one message per pair of members whose
    OOF argmax agrees on more than `near_identical` of the rows (identical probabilities always do).
    """
    refuse_incompatible(artifacts)
    return near_identical_warnings(artifacts, oof_agreement(artifacts), near_identical)


def refuse_incompatible(artifacts: Sequence[Artifact]) -> None:
    """The ValueError half of check_compatible."""
    if not artifacts:
        raise ValueError("an ensemble needs at least one member artifact")
    names = [artifact.name for artifact in artifacts]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"member artifacts {repeated} are given more than once")
    reference, problems = artifacts[0], []
    for artifact in artifacts[1:]:
        for what in _differences(reference, artifact):
            problems.append(f"{artifact.name} vs {reference.name}: {what}")
    if problems:
        raise ValueError("cannot combine these artifacts: " + "; ".join(problems))


def _differences(reference: Artifact, other: Artifact) -> list[str]:
    found = []
    ref_hash, other_hash = reference.manifest.get("fold_hash"), other.manifest.get("fold_hash")
    if ref_hash != other_hash:
        found.append(f"fold_hash differs ({_short(other_hash)} != {_short(ref_hash)}): made with another fold file")
    if not np.array_equal(other.classes.astype(str), reference.classes.astype(str)):
        found.append(f"classes differ ({other.classes.tolist()} != {reference.classes.tolist()})")
    if not np.array_equal(other.ids, reference.ids):
        same_set = len(other.ids) == len(reference.ids) and set(other.ids.tolist()) == set(reference.ids.tolist())
        found.append("ids are the same but in another order" if same_set else "ids differ")
    else:
        for array in ("fold_of", "labels"):
            if not np.array_equal(getattr(other, array), getattr(reference, array)):
                found.append(f"{array} differs")
    if not np.array_equal(other.test_ids, reference.test_ids):
        found.append("test_ids differ (or are in another order)")
    return found


def _short(value) -> str:
    return repr(value[:12] + "…") if isinstance(value, str) and len(value) > 12 else repr(value)


def near_identical_warnings(artifacts: Sequence[Artifact], agree: np.ndarray, threshold: float) -> list[str]:
    """One message (also warned) per pair of artifacts whose agreement agree [M x M] exceeds threshold."""
    shared = _rows_scored_by_all(artifacts)
    messages = []
    for i, j in zip(*np.triu_indices(len(artifacts), k=1)):
        if agree[i, j] > threshold:
            first, second = artifacts[i], artifacts[j]
            gap = np.abs(softmax(first.oof_logits[shared]) - softmax(second.oof_logits[shared])).mean()
            messages.append(
                f"members {first.name} and {second.name} are near-identical: the same OOF argmax on "
                f"{agree[i, j]:.2%} of rows (mean |probability difference| {gap:.4f}); together they count twice"
            )
    for message in messages:
        warnings.warn(message, stacklevel=3)
    return messages


def _rows_scored_by_all(artifacts: Sequence[Artifact]) -> np.ndarray:
    return np.logical_and.reduce([artifact.fold_of >= 0 for artifact in artifacts])


def oof_labels(artifacts: Sequence[Artifact]) -> np.ndarray:
    """np array [M x n_scored]: each artifact's OOF argmax on the rows all of them score. Needs the same ids in
    the same order and the same classes."""
    reference = artifacts[0]
    for artifact in artifacts[1:]:
        if not np.array_equal(artifact.ids, reference.ids) or not np.array_equal(
            artifact.classes.astype(str), reference.classes.astype(str)
        ):
            raise ValueError(f"comparing {artifact.name} with {reference.name}: ids (or their order) or classes differ")
    shared = _rows_scored_by_all(artifacts)
    labels = np.empty((len(artifacts), int(shared.sum())), dtype=np.min_scalar_type(reference.n_classes))
    for m, artifact in enumerate(artifacts):
        labels[m] = row_argmax(artifact.oof_logits if shared.all() else artifact.oof_logits[shared])
    return labels


def oof_agreement(artifacts: Sequence[Artifact]) -> np.ndarray:
    """np array [M x M]: the share of OOF rows (scored by all) on which two artifacts predict the same class."""
    return agreement(oof_labels(artifacts))


def agreement_matrix(artifacts: Sequence[Artifact]):
    """oof_agreement as a pandas DataFrame, index and columns the artifact names."""
    import pandas as pd

    names = [artifact.name for artifact in artifacts]
    return pd.DataFrame(oof_agreement(artifacts), index=names, columns=names)


# ---------------------------------------------------------------------------------------------- methods


@dataclass
class Fitted:
    """What a method fitted on some OOF rows; replayed on held-out rows and on the test rows."""

    weights: np.ndarray | None = None  # [M] blend weights summing to 1 (mean, fixed, weighted, caruana)
    plan: VotePlan | None = None  # vote_multiround's rounds
    class_weights: np.ndarray | None = None  # [C] when the spec asks for a class-weight search on top


def fit_combination(spec: EnsembleSpec, names: Sequence[str], prob_stack: np.ndarray, y: np.ndarray) -> Fitted:
    """Fit spec's method (and the class weights on top) on prob_stack [M x n x C] and labels y [n]."""
    n_members = prob_stack.shape[0]
    if spec.method == "mean":
        fitted = Fitted(weights=np.full(n_members, 1.0 / n_members))
    elif spec.method == "fixed":
        fitted = Fitted(weights=normalised([spec.weights[name] for name in names], "fixed weights"))
    elif spec.method == "weighted":
        fitted = Fitted(weights=optimise_blend(prob_stack, y, objective=spec.objective))
    elif spec.method == "caruana":
        fitted = Fitted(
            weights=caruana(
                prob_stack,
                y,
                rounds=spec.rounds,
                objective=spec.objective,
                init=spec.init,
                bags=spec.bags,
                bag_fraction=spec.bag_fraction,
                seed=spec.seed,
            )
        )
    elif spec.method == "vote_multiround":
        fitted = Fitted(
            plan=fit_multi_round_vote(
                prob_stack,
                y,
                names=names,
                n_voters=spec.n_voters,
                candidates=spec.candidates,
                stop_agreement=spec.stop_agreement,
                max_rounds=spec.max_rounds,
            )
        )
    else:  # vote_hard, vote_soft: nothing to fit
        fitted = Fitted()
    if spec.class_weights:
        probs = apply_combination(spec, fitted, prob_stack)
        fitted.class_weights = class_weight_search(
            probs, y, prob_stack.shape[2], starts=spec.class_weight_starts, seed=spec.seed
        )
    return fitted


def apply_combination(spec: EnsembleSpec, fitted: Fitted, prob_stack: np.ndarray) -> np.ndarray:
    """The ensemble's probabilities [n x C] for prob_stack [M x n x C] (class weights applied when fitted)."""
    if fitted.weights is not None:
        probs = blend(prob_stack, fitted.weights)
    elif fitted.plan is not None:
        probs = apply_vote_plan(fitted.plan, prob_stack)
    elif spec.method == "vote_hard":
        probs = hard_vote(prob_stack)
    else:
        probs = soft_vote(prob_stack)
    return probs if fitted.class_weights is None else apply_class_weights(probs, fitted.class_weights)


@dataclass
class Outcome:
    """An ensemble's predictions before they become an artifact."""

    naive_probs: np.ndarray  # [n x C] fitted on all OOF rows and scored on them: the flattering number
    honest_probs: np.ndarray  # [n x C] cross-fitted: each fold's rows from a fit without that fold
    test_probs: np.ndarray  # [n_test x C] from the fit on all OOF rows (stack: the mean of the fold models)
    weights: np.ndarray | None  # [M]
    class_weights: np.ndarray | None  # [C]
    details: dict  # JSON-able extras for the manifest: per-fold fits, voting rounds, level-2 model


def combine(spec: EnsembleSpec, names: Sequence[str], oof_stack, test_stack, y, fold_of, log) -> Outcome:
    """Every method but stack: fit on the scored OOF rows, apply everywhere, cross-fit whatever was fitted.

    oof_stack: [M x n x C] and test_stack: [M x n_test x C] member probabilities; y, fold_of: [n].
    """
    fit = partial(fit_combination, spec, names)
    apply = partial(apply_combination, spec)
    with shared_rounds(oof_stack, fold_of):  # the fit on every fold first: the fold fits reuse its rounds
        fitted = fit(oof_stack, hide_labels(y, fold_of >= 0))
        naive = apply(fitted, oof_stack)
        details = {}
        if fitted.plan is not None:
            details["vote_rounds"] = fitted.plan.log
            for entry in fitted.plan.log:
                log(f"  round {entry['round']}: " + _describe_round(entry))
        if spec.method in FITTED_METHODS or spec.class_weights:
            folds = cross_fit(oof_stack, y, fold_of, fit, apply)
            honest = folds.probs
            details["cross_fit"] = {str(k): _describe_fit(f, names) for k, f in folds.fold_params.items()}
        else:
            honest = naive  # nothing was fitted on the OOF rows, so nothing can flatter them
    return Outcome(naive, honest, apply(fitted, test_stack), fitted.weights, fitted.class_weights, details)


def stack_outcome(spec: EnsembleSpec, members: Sequence[Artifact], y, fold_of) -> Outcome:
    """stack: the OOF comes from the fold level-2 models; the naive score is one model fitted on every row."""
    n_classes = members[0].n_classes
    scored = fold_of >= 0
    features = stack_features([member.oof_logits for member in members])
    test_features = stack_features([member.test_logits for member in members])
    stacked = stack(features, y, fold_of, test_features, n_classes, spec.estimator, spec.params, spec.seed)
    honest, test, naive = stacked.oof_probs, stacked.test_probs, stacked.in_sample_probs
    del features, test_features, stacked  # before the class-weight search: a lower peak
    details = {"estimator": spec.estimator, "params": spec.params}
    class_weights = None
    if spec.class_weights:
        search = partial(class_weight_search, n_classes=n_classes, starts=spec.class_weight_starts, seed=spec.seed)
        naive = apply_class_weights(naive, search(naive[scored], y[scored]))
        folds = cross_fit(honest, y, fold_of, search, apply_class_weights)
        details["cross_fit"] = {str(k): {"class_weights": w.tolist()} for k, w in folds.fold_params.items()}
        class_weights = search(honest[scored], y[scored])
        honest, test = folds.probs, apply_class_weights(test, class_weights)
    return Outcome(naive, honest, test, None, class_weights, details)


def _describe_fit(fitted: Fitted, names: Sequence[str]) -> dict:
    described = {}
    if fitted.weights is not None:
        described["weights"] = {name: float(w) for name, w in zip(names, fitted.weights)}
    if fitted.plan is not None:
        described["voters"] = [entry["voters"] for entry in fitted.plan.log]
    if fitted.class_weights is not None:
        described["class_weights"] = fitted.class_weights.tolist()
    return described


def _describe_round(entry: dict) -> str:
    voters = ", ".join(f"{name} ({f1:.4f})" for name, f1 in zip(entry["voters"], entry["voter_f1"]))
    agreements = ", ".join(f"{a:.3f}" for a in entry["agreement_with_voters"])
    text = (
        f"voters {voters}, mean pairwise agreement {entry['mean_pairwise_agreement']:.3f} -> {entry['result']} "
        f"F1 {entry['result_f1']:.4f}, agreement with voters {agreements}"
    )
    return text + (f"; stop: {entry['stop']}" if "stop" in entry else "")


# ---------------------------------------------------------------------------------------------- builder


def member_probs(members: Sequence[Artifact], array: str) -> np.ndarray:
    """np array [M x rows x C] float32: softmax of each member's `array` ('oof_logits' or 'test_logits').

    Stored class-planar: the memory is [M x C x rows] and the array is its transposed view. The ensemble kernels read
    one class of many rows at a time (a class column of one member, or of the rows still undecided), which is then
    contiguous memory rather than every C-th float.
    """
    rows, n_classes = getattr(members[0], array).shape
    planar = np.empty((len(members), n_classes, rows), dtype=np.float32)
    for m, member in enumerate(members):
        softmax(getattr(member, array), out=planar[m].T)
    return planar.transpose(0, 2, 1)


def select_members(name: str, spec: EnsembleSpec, artifacts: Sequence[Artifact]) -> list[Artifact]:
    """The spec's members among the artifacts, in the spec's order ('all': every artifact, in the given order)."""
    by_name = {artifact.name: artifact for artifact in artifacts}
    wanted = list(spec.weights) if spec.method == "fixed" and spec.members == "all" else spec.members
    if wanted == "all":
        return list(artifacts)
    missing = [member for member in wanted if member not in by_name]
    if missing:
        raise ValueError(f"ensemble {name!r}: members {missing} are not among the artifacts given {sorted(by_name)}")
    if spec.method == "fixed" and set(spec.weights) != set(wanted):
        raise ValueError(
            f"ensemble {name!r}: fixed weights name {sorted(spec.weights)} but the members are {sorted(wanted)}"
        )
    return [by_name[member] for member in wanted]


def to_logits(probs: np.ndarray) -> np.ndarray:
    """float32 log-probabilities: softmax gives probs (renormalised) back, argmax is the decision."""
    return np.log(np.maximum(probs, TINY)).astype(np.float32)


def build_ensemble(
    name: str, spec: dict, artifacts: Sequence[Artifact], log: Callable[[str], None] = print
) -> Artifact:
    """Build, score and describe one ensemble. spec: the config entry, e.g. {'method': 'caruana', 'rounds': 25,
    'class_weights': True}; artifacts: the candidate members (experiments or ensembles); see EnsembleSpec."""
    checked = EnsembleSpec.from_dict(name, spec)
    members = select_members(name, checked, artifacts)
    refuse_incompatible(members)
    member_labels = oof_labels(members)  # [M x n_scored]: for the warnings, member scores and agreement matrix
    agree = agreement(member_labels)
    member_warnings = near_identical_warnings(members, agree, NEAR_IDENTICAL)
    for message in member_warnings:
        log(f"warning: {message}")
    names = [member.name for member in members]
    first = members[0]
    y, fold_of = first.labels.astype(np.int64), first.fold_of
    log(
        f"ensemble {name}: {checked.method} over {len(members)} members"
        + (", class weights searched on top" if checked.class_weights else "")
    )
    if checked.method == "stack":
        outcome = stack_outcome(checked, members, y, fold_of)
    else:
        oof_stack, test_stack = member_probs(members, "oof_logits"), member_probs(members, "test_logits")
        outcome = combine(checked, names, oof_stack, test_stack, y, fold_of, log)
        del oof_stack, test_stack  # the member probabilities go before the logits are made: a lower peak

    artifact = Artifact(
        ids=first.ids,
        labels=first.labels,
        fold_of=fold_of,
        oof_logits=to_logits(outcome.honest_probs),
        test_ids=first.test_ids,
        test_logits=to_logits(outcome.test_probs),
        classes=first.classes,
        manifest=_manifest(name, checked, spec, members, outcome, member_labels, agree, member_warnings),
    )
    for line in describe(artifact.manifest):
        log(line)
    return artifact.validate(f"ensemble {name}")


def _manifest(
    name, spec: EnsembleSpec, entry: dict, members, outcome: Outcome, member_labels, agree, member_warnings
) -> dict:
    first = members[0]
    y, fold_of, n_classes = first.labels, first.fold_of, first.n_classes
    classes = [str(c) for c in first.classes]
    names = [member.name for member in members]
    naive = score_summary(y, to_logits(outcome.naive_probs), fold_of)
    honest = score_summary(y, to_logits(outcome.honest_probs), fold_of)
    scored = fold_of >= 0
    member_f1 = {m.name: macro_f1(y[scored], labels, n_classes) for m, labels in zip(members, member_labels)}
    best = max(member_f1, key=member_f1.get)
    return {
        "name": name,
        "kind": "ensemble",
        "method": spec.method,
        "spec": entry,
        "members": names,
        "weights": None if outcome.weights is None else {n: float(w) for n, w in zip(names, outcome.weights)},
        "class_weights": None if outcome.class_weights is None else dict(zip(classes, outcome.class_weights.tolist())),
        "classes": classes,
        "fold_hash": first.manifest["fold_hash"],
        "member_hashes": {member.name: sha256_json(member.manifest) for member in members},
        **provenance(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scores": naive,
        "honest_macro_f1": honest["oof_macro_f1"],
        "honest_scores": honest,
        "oof_logits": "cross-fitted: each fold's rows come from a fit that never saw that fold (honest_scores)",
        "member_f1": member_f1,
        "best_member": {"name": best, "oof_macro_f1": member_f1[best]},
        "gain_over_best_member": {
            "naive": naive["oof_macro_f1"] - member_f1[best],
            "honest": honest["oof_macro_f1"] - member_f1[best],
        },
        "agreement": {"members": names, "matrix": agree.round(6).tolist()},
        "warnings": member_warnings,
        **outcome.details,
    }


def describe(manifest: dict) -> list[str]:
    """Lines for the log: naive and honest OOF macro-F1 against the best member, per-class F1, weights, agreement."""
    naive, honest, best = manifest["scores"], manifest["honest_scores"], manifest["best_member"]
    gain = manifest["gain_over_best_member"]
    lines = [
        f"  OOF macro-F1 naive {naive['oof_macro_f1']:.4f}, honest {honest['oof_macro_f1']:.4f}; best member "
        f"{best['name']} {best['oof_macro_f1']:.4f} (gain naive {gain['naive']:+.4f}, honest {gain['honest']:+.4f})",
        "  per-class F1 naive / honest: "
        + ", ".join(
            f"{label} {a:.4f} / {b:.4f}"
            for label, a, b in zip(manifest["classes"], naive["per_class_f1"], honest["per_class_f1"])
        ),
    ]
    if manifest["weights"]:
        ranked = sorted(manifest["weights"].items(), key=lambda item: -item[1])
        lines.append("  weights: " + ", ".join(f"{member} {w:.3f}" for member, w in ranked if w > 0))
    if manifest["class_weights"]:
        lines.append("  class weights: " + ", ".join(f"{c} {w:.3f}" for c, w in manifest["class_weights"].items()))
    names, matrix = manifest["agreement"]["members"], manifest["agreement"]["matrix"]
    if 1 < len(names) <= SHOWN_AGREEMENT:
        width = max(map(len, names))
        lines.append("  agreement of member OOF argmax:")
        lines += [f"    {name:>{width}} " + " ".join(f"{a:.3f}" for a in row) for name, row in zip(names, matrix)]
    return lines
