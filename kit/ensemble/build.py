"""Ensembles as artifacts: guardrails over the members, the methods, and the builder that scores them honestly.

build_ensemble turns one entry of the config's `ensembles:` block and its member artifacts (experiments or other
ensembles) into an Artifact of kind 'ensemble'; the entry's method (kit/ensemble/methods.py, or a plugin's) is
looked up in kit.registry and every method goes through the same fit / apply / cross-fit. Its oof_logits and test_logits are log-probabilities (float32):
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

from kit import registry
from kit.artifacts import Artifact, provenance, sha256_json
from kit.config import EnsembleEntry
from kit.ensemble.blend import shared_rounds
from kit.ensemble.fitted import Fitted
from kit.ensemble.honest import cross_fit, cross_fit_scope, hide_labels
from kit.ensemble.voting import VotePlan, agreement
from kit.ensemble.weights import TINY, apply_class_weights, class_weight_search
from kit.metrics import macro_f1, row_argmax, score_summary, softmax
from kit.registry import resolve

NEAR_IDENTICAL = 0.995  # share of OOF rows with the same argmax above which two members are warned about
SHOWN_AGREEMENT = 12  # the log prints the agreement matrix up to this many members (the manifest always has it)

# ---------------------------------------------------------------------------------------------- guardrails


def refuse_incompatible(artifacts: Sequence[Artifact]) -> None:
    """Raise ValueError naming every artifact whose fold-file hash, ids (or their order), fold_of, labels, test ids
    or classes differ from the first member's, or that is given twice."""
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
        raise ValueError(
            "cannot combine these artifacts: " + "; ".join(problems) + "; build every member from the same ingested "
            "data and fold file (run snakemake: it rebuilds the members whose inputs changed)"
        )


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
    """One message (also warned) per pair of artifacts whose OOF argmax agrees (agree [M x M]) on more than
    threshold of the rows (identical probabilities always do)."""
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


def fit_combination(entry: EnsembleEntry, names: Sequence[str], prob_stack: np.ndarray, y: np.ndarray) -> Fitted:
    """Fit the entry's method (and the class weights on top) on prob_stack [M x n x C] and labels y [n]."""
    method = registry.method(entry.method)
    fitted = Fitted(resolve(method.fit)(entry.params, names, prob_stack, y, entry.common.seed))
    if entry.common.class_weights:
        probs = apply_combination(entry, fitted, prob_stack)
        fitted.class_weights = class_weight_search(
            probs, y, prob_stack.shape[2], starts=entry.common.class_weight_starts, seed=entry.common.seed
        )
    return fitted


def apply_combination(entry: EnsembleEntry, fitted: Fitted, prob_stack: np.ndarray) -> np.ndarray:
    """The ensemble's probabilities [n x C] for prob_stack [M x n x C] (class weights applied when fitted)."""
    probs = resolve(registry.method(entry.method).apply)(entry.params, fitted.combination, prob_stack)
    return probs if fitted.class_weights is None else apply_class_weights(probs, fitted.class_weights)


def combination_input(entry: EnsembleEntry, member_logits: Sequence[np.ndarray]) -> np.ndarray:
    """[M x n x C]: what apply_combination reads for these members' logits: the logits as they are for a method
    whose inputs are logits (stacking), else their probabilities."""
    if registry.method(entry.method).inputs == "logits":
        return np.stack(member_logits)
    return np.stack([softmax(logits) for logits in member_logits])


@dataclass
class Outcome:
    """An ensemble's predictions before they become an artifact."""

    naive_probs: np.ndarray  # [n x C] fitted on all OOF rows and scored on them: the flattering number
    honest_probs: np.ndarray  # [n x C] cross-fitted: each fold's rows from a fit without that fold
    test_probs: np.ndarray  # [n_test x C] from the fit on all OOF rows
    weights: np.ndarray | None  # [M]
    class_weights: np.ndarray | None  # [C]
    details: dict  # JSON-able extras for the manifest: per-fold fits, voting rounds
    pool_probs: np.ndarray | None = None  # [K x n_pool x C]: fold k's members combined by the fit without fold k
    fitted: Fitted | None = None  # the fit on every scored OOF row: what made test_probs, kept for `kit predict`


def combine(entry: EnsembleEntry, names: Sequence[str], oof_stack, test_stack, y, fold_of, log,
            pool_stacks: list | None = None) -> Outcome:
    """Fit on the scored OOF rows, apply everywhere, cross-fit whatever was fitted on OOF rows.

    oof_stack: [M x n x C] and test_stack: [M x n_test x C] member probabilities (or logits: member_stack);
    y, fold_of: [n]; pool_stacks: K stacks [M x n_pool x C], the members' fold-by-fold pool predictions, when every
    member has them: fold k's are combined by what was fitted without fold k, so a pseudo variant taught by this
    ensemble never leaks fold k.
    """
    scored = fold_of >= 0
    fit = partial(fit_combination, entry, names)
    apply = partial(apply_combination, entry)
    # The fit on every fold first: the fold fits reuse its Caruana rounds, its level-2 features and curvature.
    with shared_rounds(oof_stack, fold_of), cross_fit_scope(oof_stack, fold_of):
        fitted = fit(oof_stack, hide_labels(y, scored))
        naive = apply(fitted, oof_stack)
        details = {}
        plan = fitted.combination
        if isinstance(plan, VotePlan):
            details["vote_rounds"] = plan.log
            for round_entry in plan.log:
                log(f"  round {round_entry['round']}: " + _describe_round(round_entry))
        fold_fits = {int(k): fitted for k in np.unique(fold_of[scored])}  # unfitted methods: the same everywhere
        if registry.method(entry.method).fitted or entry.common.class_weights:
            folds = cross_fit(oof_stack, y, fold_of, fit, apply)
            honest = folds.probs
            fold_fits = folds.fold_params
            details["cross_fit"] = {str(k): _describe_fit(f, names) for k, f in folds.fold_params.items()}
        else:
            honest = naive  # nothing was fitted on the OOF rows, so nothing can flatter them
    pool_probs = None
    if pool_stacks is not None:
        pool_probs = np.stack([apply(fold_fits[k], pool_stacks[k]) for k in range(len(pool_stacks))])
    return Outcome(naive, honest, apply(fitted, test_stack), fitted.weights, fitted.class_weights, details,
                   pool_probs, fitted)


def _describe_fit(fitted: Fitted, names: Sequence[str]) -> dict:
    described = {}
    if fitted.weights is not None:
        described["weights"] = {name: float(w) for name, w in zip(names, fitted.weights)}
    if isinstance(fitted.combination, VotePlan):
        described["voters"] = [entry["voters"] for entry in fitted.combination.log]
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


class MemberLogits:
    """The members' logits as a [M x rows x C] stack without copying them: for methods that read logits."""

    def __init__(self, arrays: Sequence[np.ndarray]):
        self.arrays = list(arrays)
        self.shape = (len(self.arrays), *self.arrays[0].shape)

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, m: int) -> np.ndarray:
        return self.arrays[m]


def member_stack(members: Sequence[Artifact], array: str, inputs: str):
    """What a method reads of the members' `array`: their probabilities (member_probs) or their logits."""
    if inputs == "logits":
        return MemberLogits([getattr(member, array) for member in members])
    return member_probs(members, array)


def member_pool_stacks(members: Sequence[Artifact], inputs: str) -> tuple[list | None, np.ndarray | None]:
    """(one stack per fold of the members' predictions of the pseudo-label pool, as member_stack gives them, and the
    pool ids), or (None, None) unless every member predicted the same pool."""
    if any(member.pool_logits is None for member in members):
        return None, None
    ids = members[0].pool_ids
    for member in members[1:]:
        if not np.array_equal(member.pool_ids, ids):
            raise ValueError(f"members {members[0].name} and {member.name} predicted different pool rows")
    stacks = []
    for k in range(members[0].pool_logits.shape[0]):
        fold = [member.pool_logits[k] for member in members]
        if inputs == "logits":
            stacks.append(MemberLogits(fold))
        else:
            planar = np.empty((len(fold), fold[0].shape[1], fold[0].shape[0]), dtype=np.float32)
            for m, logits in enumerate(fold):
                softmax(logits, out=planar[m].T)
            stacks.append(planar.transpose(0, 2, 1))
    return stacks, ids


def select_members(name: str, entry: EnsembleEntry, artifacts: Sequence[Artifact]) -> list[Artifact]:
    """The entry's members among the artifacts, in the entry's order ('all': every artifact, in the given order;
    with fixed weights, the weights' names)."""
    by_name = {artifact.name: artifact for artifact in artifacts}
    weights = getattr(entry.params, "weights", None)
    wanted = entry.common.members
    if wanted == "all":
        if entry.method != "fixed":
            return list(artifacts)
        wanted = list(weights)
    missing = [member for member in wanted if member not in by_name]
    if missing:
        raise ValueError(f"ensemble {name!r}: members {missing} are not among the artifacts given {sorted(by_name)}")
    if entry.method == "fixed" and set(weights) != set(wanted):
        raise ValueError(f"ensemble {name!r}: fixed weights name {sorted(weights)} but the members are {sorted(wanted)}")
    return [by_name[member] for member in wanted]


def drop_duplicates(name: str, entry: EnsembleEntry, members: list[Artifact],
                    log: Callable[[str], None]) -> tuple[list[Artifact], dict[str, str]]:
    """members without those whose logits (OOF, test and pool) equal an earlier member's bit for bit, and
    {dropped: the member it duplicates}.

    A second seed of a deterministic model is such a copy: it adds no information, but it doubles that model's
    weight in a mean or a vote and makes a stacker's features singular. Fixed weights name every member, and a
    method is never left with fewer members than it needs, so those keep their duplicates (with a note).
    """
    kept: list[Artifact] = []
    dropped: dict[str, str] = {}
    for member in members:
        twin = next((other for other in kept if _same_logits(member, other)), None)
        if twin is None:
            kept.append(member)
        else:
            dropped[member.name] = twin.name
    if not dropped:
        return members, {}
    pairs = ", ".join(f"{copy} is an exact duplicate of {twin}" for copy, twin in dropped.items())
    least = registry.method(entry.method).min_members
    if entry.method == "fixed" or len(kept) < least:
        why = "fixed weights name every member" if entry.method == "fixed" else f"{entry.method} needs {least}"
        log(f"ensemble {name}: {pairs}: kept all the same ({why})")
        return members, {}
    log(f"ensemble {name}: {pairs}: dropped (same logits on every row; a second seed of a deterministic model)")
    return kept, dropped


def _same_logits(a: Artifact, b: Artifact) -> bool:
    return (np.array_equal(a.oof_logits, b.oof_logits) and np.array_equal(a.test_logits, b.test_logits)
            and (a.pool_logits is None) == (b.pool_logits is None)
            and (a.pool_logits is None or np.array_equal(a.pool_logits, b.pool_logits)))


def to_logits(probs: np.ndarray) -> np.ndarray:
    """float32 log-probabilities: softmax gives probs (renormalised) back, argmax is the decision."""
    return np.log(np.maximum(probs, TINY)).astype(np.float32)


def build_ensemble(
    name: str, spec: dict, artifacts: Sequence[Artifact], log: Callable[[str], None] = print
) -> Artifact:
    """Build, score and describe one ensemble. spec: the config entry, e.g. {'method': 'caruana', 'rounds': 25,
    'class_weights': True} (kit.config.EnsembleEntry); artifacts: the candidate members (experiments or ensembles)."""
    return fit_ensemble(name, spec, artifacts, log)[0]


def fit_ensemble(
    name: str, spec: dict, artifacts: Sequence[Artifact], log: Callable[[str], None] = print
) -> tuple[Artifact, Fitted]:
    """build_ensemble, and the fit on every OOF row that made its test logits (kit.kept.save_combination keeps it)."""
    entry = EnsembleEntry.parse_setting(spec, f"ensembles.{name.removeprefix('ensemble.')}")
    members = select_members(name, entry, artifacts)
    refuse_incompatible(members)
    members, dropped = drop_duplicates(name, entry, members, log)
    member_labels = oof_labels(members)  # [M x n_scored]: for the warnings, member scores and agreement matrix
    agree = agreement(member_labels)
    member_warnings = near_identical_warnings(members, agree, NEAR_IDENTICAL)  # warned: the command logs them
    names = [member.name for member in members]
    first = members[0]
    y, fold_of = first.labels.astype(np.int64), first.fold_of
    log(
        f"ensemble {name}: {entry.method} over {len(members)} members"
        + (", class weights searched on top" if entry.common.class_weights else "")
    )
    inputs = registry.method(entry.method).inputs
    oof_stack, test_stack = member_stack(members, "oof_logits", inputs), member_stack(members, "test_logits", inputs)
    pool_stacks, pool_ids = member_pool_stacks(members, inputs)
    outcome = combine(entry, names, oof_stack, test_stack, y, fold_of, log, pool_stacks)
    del oof_stack, test_stack, pool_stacks  # the member probabilities go before the logits are made: a lower peak

    artifact = Artifact(
        ids=first.ids,
        labels=first.labels,
        fold_of=fold_of,
        oof_logits=to_logits(outcome.honest_probs),
        test_ids=first.test_ids,
        test_logits=to_logits(outcome.test_probs),
        classes=first.classes,
        manifest=_manifest(name, entry, members, outcome, member_labels, agree, member_warnings, dropped),
        pool_ids=pool_ids,
        pool_logits=None if outcome.pool_probs is None else to_logits(outcome.pool_probs),
    )
    for line in describe(artifact.manifest):
        log(line)
    return artifact.validate(f"ensemble {name}"), outcome.fitted


def _manifest(name, entry: EnsembleEntry, members, outcome: Outcome, member_labels, agree, member_warnings,
              dropped: dict[str, str]) -> dict:
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
        "method": entry.method,
        "spec": entry.to_setting(),
        "members": names,
        "dropped_duplicates": dropped,
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
