"""Accuracy of hashes against labelled groups, over all n(n-1)/2 pairs.

For each algorithm the Hamming kernel histograms the distances of same-group
and different-group pairs (O(bits) memory, no pair is stored); the counts at
every threshold ``d`` (match when distance <= d) are cumulative sums of those
histograms:

    TP(d) = sum(same[:d+1])     FP(d) = sum(diff[:d+1])
    FN(d) = P - TP(d)           TN(d) = N - FP(d)

Precision is taken as 1 where nothing matches (the usual start of a
precision-recall curve).  Average precision is the step-wise area under the
precision-recall curve, ``sum_d (R(d) - R(d-1)) * P(d)``: pairs are ranked by
distance and tied pairs enter together.  The best threshold is the one with
the highest F1 (the smallest such distance on ties).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from finder import pairs as _pairs
from finder.groups.linkage import LINKAGES, group_indices
from finder.match.search import (
    Rule,
    check_vote,
    choose_algorithm,
    default_vote,
    find_pairs,
    pair_distances,
    radius,
    vote_pairs,
)
from finder.store.hashset import HashSet

DEFAULT_GROUP_PATTERN = r"^(\d+)_"


from finder.errors import TruthError  # noqa: E402  (re-exported)


@dataclass
class Truth:
    """Group label per image of a HashSet (``-1`` = unlabelled) and extra columns."""

    labels: np.ndarray  # int64[n]
    names: list[str]  # group name per label id
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. "transform" -> str[n]
    unmatched: list[str] = field(default_factory=list)  # truth rows (their paths) that match no image

    @property
    def labelled(self) -> np.ndarray:
        return np.flatnonzero(self.labels >= 0)


def _label_ids(groups: list[str | None]) -> tuple[np.ndarray, list[str]]:
    names = sorted({g for g in groups if g is not None})
    index = {g: k for k, g in enumerate(names)}
    return np.array([index[g] if g is not None else -1 for g in groups], dtype=np.int64), names


def truth_from_pattern(paths: Iterable[str], pattern: str = DEFAULT_GROUP_PATTERN) -> Truth:
    """Groups from file names: the first regex group of ``pattern`` searched in each base name."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise TruthError(f"bad --group-pattern {pattern!r}: {exc}") from None
    if regex.groups < 1:
        raise TruthError(f"--group-pattern {pattern!r} has no (group) to extract")
    groups = []
    for path in paths:
        found = regex.search(os.path.basename(str(path)))
        groups.append(found.group(1) if found else None)
    labels, names = _label_ids(groups)
    return Truth(labels, names)


def truth_from_csv(paths: Iterable[str], csv_path: str) -> Truth:
    """Groups from a CSV with ``path,group`` columns (other columns are kept).

    A CSV path matches an image when it is the same path, the same file
    relative to the CSV's folder, or (if unambiguous) the same base name.
    """
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TruthError(f"cannot read {csv_path}: {exc}") from None
    if not rows or not {"path", "group"} <= set(rows[0]):
        raise TruthError(f"{csv_path} needs a header with 'path' and 'group' columns")
    base = os.path.dirname(os.path.abspath(csv_path))
    by_key: dict[str, dict[str, str]] = {}
    basenames: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_key[row["path"]] = row
        by_key[os.path.normpath(os.path.join(base, row["path"]))] = row
        basenames.setdefault(os.path.basename(row["path"]), []).append(row)
    extra = [c for c in rows[0] if c not in ("path", "group")]
    matched: list[dict[str, str] | None] = []
    for path in map(str, paths):
        found = by_key.get(path) or by_key.get(os.path.normpath(os.path.abspath(path)))
        if found is None:
            candidates = basenames.get(os.path.basename(path), [])
            found = candidates[0] if len(candidates) == 1 else None
        matched.append(found)
    labels, names = _label_ids([r["group"] if r else None for r in matched])
    columns = {c: np.array([r[c] if r else "" for r in matched], dtype=str) for c in extra}
    used = {id(r) for r in matched if r is not None}
    return Truth(labels, names, columns, [row["path"] for row in rows if id(row) not in used])


@dataclass
class Curve:
    """Counts and scores at every distance threshold 0..bits for one algorithm."""

    algorithm: str
    bits: int
    same: np.ndarray  # histogram of same-group pair distances, int64[bits + 1]
    diff: np.ndarray  # histogram of different-group pair distances

    @property
    def positives(self) -> int:
        return int(self.same.sum())

    @property
    def negatives(self) -> int:
        return int(self.diff.sum())

    def table(self) -> dict[str, np.ndarray]:
        """Per-threshold arrays: distance, threshold, tp, fp, tn, fn, precision, recall, f1, accuracy."""
        tp = np.cumsum(self.same)
        fp = np.cumsum(self.diff)
        fn = self.positives - tp
        tn = self.negatives - fp
        predicted = tp + fp
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 1.0)
            recall = tp / self.positives if self.positives else np.zeros(len(tp))
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        total = self.positives + self.negatives
        accuracy = (tp + tn) / total if total else np.zeros(len(tp))
        distance = np.arange(self.bits + 1)
        return {"distance": distance, "threshold": distance / self.bits, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                "precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}

    def rows(self) -> list[dict[str, float | int]]:
        """One dict per threshold, with the keys of :meth:`table`."""
        table = self.table()
        return [dict(zip(table, values)) for values in zip(*(v.tolist() for v in table.values()))]

    def best(self) -> int:
        """The distance with the highest F1 (smallest on ties)."""
        return int(np.argmax(self.table()["f1"]))

    def average_precision(self) -> float:
        t = self.table()
        gained = np.diff(np.concatenate([[0.0], t["recall"]]))
        return float((gained * t["precision"]).sum())

    def at(self, distance: int) -> dict[str, float | int]:
        """Counts and scores at one distance, as plain numbers."""
        return {k: v[distance].item() for k, v in self.table().items()}


def curve(hashset: HashSet, algorithm: str, labels: np.ndarray) -> Curve:
    """Same/different-group distance histograms of all pairs of labelled images."""
    keep = np.flatnonzero(labels >= 0)
    same, diff = _pairs.distance_histogram(hashset.plain(algorithm)[keep], labels[keep], hashset.bits[algorithm])
    return Curve(algorithm, hashset.bits[algorithm], same, diff)


def pair_scores(tp: int, fp: int, positives: int, negatives: int) -> dict[str, float | int]:
    """Precision, recall, F1 and accuracy for a set of predicted pairs."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = positives + negatives
    accuracy = (tp + negatives - fp) / total if total else 0.0
    return {"tp": tp, "fp": fp, "fn": positives - tp, "tn": negatives - fp,
            "precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}


def same_group_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j), i < j, of labelled images in the same group (groups are small)."""
    keep = np.flatnonzero(labels >= 0)
    order = keep[np.argsort(labels[keep], kind="stable")]
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    i_parts, j_parts = [], []
    for members in np.split(order, bounds):
        a, b = np.triu_indices(len(members), k=1)
        i_parts.append(members[a])
        j_parts.append(members[b])
    if not i_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = np.concatenate(i_parts), np.concatenate(j_parts)
    return np.minimum(i, j), np.maximum(i, j)


def recall_by_transform(hashset: HashSet, rule: Rule, truth: Truth, column: str = "transform") -> dict[str, dict]:
    """Recall per value of ``column`` (e.g. transform) at the rule's radius.

    A pair counts for transform ``t`` when one image has transform ``t`` and
    the other is its group's ``original`` (when the truth names originals), or
    else any image of the same group.  So a row answers: which edits does this
    hash survive?
    """
    values = truth.columns[column]
    i, j = same_group_pairs(truth.labels)
    words = hashset.plain(rule.algorithm)
    matched = pair_distances(words, words, i, j) <= rule.max_distance
    return transform_recall(values, i, j, matched, values[truth.labelled].tolist())


def transform_recall(values: np.ndarray, i: np.ndarray, j: np.ndarray, matched: np.ndarray,
                     names: list[str]) -> dict[str, dict]:
    """Recall per transform over same-group pairs ``(i, j)`` whose match is ``matched`` (bool per pair).

    With ``original`` rows, each edited image counts against its group's
    original; without, every pair involving the transform counts.  ``names``
    are the transform values to report (``original`` itself is left out).
    """
    has_originals = bool((values == "original").any())
    result: dict[str, dict] = {}
    for value in sorted(set(names) - ({"original"} if has_originals else set())):
        if has_originals:
            mask = (((values[i] == value) & (values[j] == "original"))
                    | ((values[j] == value) & (values[i] == "original")))
        else:
            mask = (values[i] == value) | (values[j] == value)
        pairs = int(mask.sum())
        result[value] = {"pairs": pairs, "matched": int(matched[mask].sum()),
                         "recall": float(matched[mask].mean()) if pairs else 0.0}
    return result


def grouping_scores(labels: np.ndarray, i: np.ndarray, j: np.ndarray, linkage: str) -> dict[str, float | int]:
    """Pairwise precision/recall/F1 of the groups ``cluster`` makes from pairs (i, j), and the largest group."""
    keep = np.flatnonzero(labels >= 0)
    position = np.full(len(labels), -1)
    position[keep] = np.arange(len(keep))
    both = (position[i] >= 0) & (position[j] >= 0)
    groups = group_indices(len(keep), position[i[both]], position[j[both]], linkage)
    cluster_of = np.empty(len(keep), dtype=np.int64)
    for k, members in enumerate(groups):
        cluster_of[members] = k
    truth = labels[keep]

    def pairs_in(counts: np.ndarray) -> int:
        return int((counts * (counts - 1) // 2).sum())

    _, cell = np.unique(np.stack([cluster_of, truth]), axis=1, return_counts=True)
    tp = pairs_in(cell)
    predicted = pairs_in(np.bincount(cluster_of))
    positives = pairs_in(np.bincount(truth))
    n = len(keep)
    scores = pair_scores(tp, predicted - tp, positives, n * (n - 1) // 2 - positives)
    scores["largest_group"] = max((len(g) for g in groups), default=0)
    scores["groups"] = sum(1 for g in groups if len(g) > 1)
    return scores


@dataclass
class Evaluation:
    """Everything ``finder evaluate`` reports."""

    n_images: int
    n_labelled: int
    n_groups: int
    positives: int
    negatives: int
    curves: dict[str, Curve]
    chosen: dict[str, Rule]
    per_transform: dict[str, dict[str, dict]]
    grouping: dict[str, dict[str, dict]]
    votes: list[dict]

    def summary_rows(self) -> list[dict]:
        """One row per algorithm at its chosen threshold, plus its best-F1 threshold and average precision."""
        rows = []
        for name, c in self.curves.items():
            rule = self.chosen[name]
            best = c.best()
            rows.append({"algorithm": name, "bits": c.bits, "distance": rule.max_distance,
                         "threshold": rule.threshold, **{k: v for k, v in c.at(rule.max_distance).items()
                                                         if k not in ("distance", "threshold")},
                         "best_distance": best, "best_threshold": best / c.bits, "best_f1": c.at(best)["f1"],
                         "average_precision": c.average_precision()})
        return rows

    def to_dict(self) -> dict:
        return {
            "images": self.n_images, "labelled": self.n_labelled, "groups": self.n_groups,
            "positive_pairs": self.positives, "negative_pairs": self.negatives,
            "algorithms": {
                row["algorithm"]: {
                    **row,
                    "per_transform": self.per_transform.get(row["algorithm"], {}),
                    "grouping": self.grouping[row["algorithm"]],
                    "curve": self.curves[row["algorithm"]].rows(),
                }
                for row in self.summary_rows()
            },
            "votes": self.votes,
        }


def evaluate(
    hashset: HashSet,
    truth: Truth,
    algorithms: list[str] | None = None,
    rules: dict[str, Rule] | None = None,
    vote: int | None = None,
) -> Evaluation:
    """Score each algorithm of ``hashset`` against ``truth`` over all pairs of labelled images.

    Parameters
    ----------
    algorithms : which algorithms (default: all in the file).
    rules : a fixed radius per algorithm; algorithms without one are scored
        (per transform, grouping, votes) at their default threshold, the one
        ``finder cluster`` uses (the best-F1 threshold is reported beside it).
    vote : with several algorithms, score only this K of the vote; by default
        every K from 1 to the number of algorithms.
    """
    names = [choose_algorithm(hashset, a) for a in (algorithms or hashset.algorithms)]
    if vote is not None:
        check_vote(vote, len(names))
    labelled = truth.labelled
    if len(labelled) < 2:
        raise TruthError(f"only {len(labelled)} of {len(hashset)} images have a group label; nothing to evaluate")
    curves = {name: curve(hashset, name, truth.labels) for name in names}
    first = curves[names[0]]
    chosen = {name: (rules or {}).get(name) or Rule(name, c.bits, radius(c.bits, algorithm=name))
              for name, c in curves.items()}
    per_transform = ({name: recall_by_transform(hashset, chosen[name], truth) for name in names}
                     if "transform" in truth.columns else {})
    grouping = {}
    for name in names:
        pairs = find_pairs(hashset, name, max_distance=chosen[name].max_distance)
        grouping[name] = {linkage: grouping_scores(truth.labels, pairs.i, pairs.j, linkage) for linkage in LINKAGES}
    votes = []
    if len(names) > 1:
        labelled_set = hashset.take(labelled)
        label = truth.labels[labelled]
        ks = [vote] if vote else range(1, len(names) + 1)
        rule_list = [chosen[n] for n in names]
        # Pairs with at least K votes are those with at least min(ks) votes filtered by K:
        # one matching run per algorithm serves every K.
        counted = vote_pairs(labelled_set, rule_list, min(ks))
        same = label[counted.i] == label[counted.j]
        best_single = max(c.at(chosen[n].max_distance)["f1"] for n, c in curves.items())
        for k in ks:
            enough = counted.votes >= k
            tp = int((same & enough).sum())
            scores = pair_scores(tp, int(enough.sum()) - tp, first.positives, first.negatives)
            votes.append({"k": k, "of": names, "default": k == default_vote(rule_list),
                          "thresholds": {n: chosen[n].threshold for n in names}, **scores,
                          "beats_best_single": scores["f1"] > best_single})
    return Evaluation(
        n_images=len(hashset), n_labelled=len(labelled), n_groups=len(np.unique(truth.labels[labelled])),
        positives=first.positives, negatives=first.negatives, curves=curves, chosen=chosen,
        per_transform=per_transform, grouping=grouping, votes=votes,
    )


CURVE_HEADER = ("algorithm", "distance", "threshold", "tp", "fp", "tn", "fn", "precision", "recall", "f1", "accuracy")


def curve_rows(evaluation: Evaluation) -> Iterable[tuple]:
    """Every algorithm's counts and scores at every threshold, for CSV."""
    for name, c in evaluation.curves.items():
        for row in c.rows():
            yield (name, *(round(v, 6) if isinstance(v, float) else v for v in (row[k] for k in CURVE_HEADER[1:])))


def render_tables(evaluation: Evaluation) -> list:
    """rich tables for the terminal: summary, grouping, recall per transform, votes."""
    from rich.table import Table

    summary = Table(title=f"{evaluation.n_labelled} labelled images in {evaluation.n_groups} groups: "
                          f"{evaluation.positives:,} same-group and {evaluation.negatives:,} other pairs")
    for column in ("algorithm", "bits", "threshold (d)", "precision", "recall", "F1", "accuracy",
                   "best F1 at", "avg precision"):
        summary.add_column(column, justify="left" if column == "algorithm" else "right")
    for row in evaluation.summary_rows():
        summary.add_row(row["algorithm"], str(row["bits"]), f"{row['threshold']:.3f} ({row['distance']})",
                        f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                        f"{row['accuracy']:.4f}", f"{row['best_threshold']:.3f} ({row['best_distance']})",
                        f"{row['average_precision']:.3f}")
    tables = [summary]

    grouping = Table(title="Groups that `finder cluster` makes at that threshold (pairwise scores)")
    for column in ("algorithm", "linkage", "precision", "recall", "F1", "groups", "largest"):
        grouping.add_column(column, justify="left" if column in ("algorithm", "linkage") else "right")
    for name, by_linkage in evaluation.grouping.items():
        for linkage, s in by_linkage.items():
            grouping.add_row(name, linkage, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}",
                             str(s["groups"]), str(s["largest_group"]))
    tables.append(grouping)

    if evaluation.per_transform:
        names = list(evaluation.per_transform)
        transforms = sorted({t for by in evaluation.per_transform.values() for t in by})
        per = Table(title="Recall per transform at that threshold (pairs with the group's original)")
        per.add_column("transform")
        per.add_column("pairs", justify="right")
        for name in names:
            per.add_column(name, justify="right")
        for t in transforms:
            first = evaluation.per_transform[names[0]].get(t, {"pairs": 0})
            per.add_row(t, str(first["pairs"]),
                        *(f"{evaluation.per_transform[n].get(t, {'recall': 0.0})['recall']:.2f}" for n in names))
        tables.append(per)

    if evaluation.votes:
        votes = Table(title="Voting: a pair matches when at least K algorithms match it")
        for column in ("K", "of", "precision", "recall", "F1", "beats best single"):
            votes.add_column(column, justify="right" if column not in ("of",) else "left")
        for v in evaluation.votes:
            votes.add_row(str(v["k"]), ", ".join(v["of"]), f"{v['precision']:.3f}", f"{v['recall']:.3f}",
                          f"{v['f1']:.3f}", "yes" if v["beats_best_single"] else "no")
        tables.append(votes)
    return tables
