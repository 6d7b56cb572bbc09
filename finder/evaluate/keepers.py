"""How often the keeper is the original: the keep rules scored against labelled groups.

A labelled set whose truth marks each group's ``original`` (the corpus's and
``finder synth``'s ``ground_truth.csv``: ``transform`` = ``original``) says
which copy a person should keep.  Of the groups ``finder cluster`` finds that
hold an original, :func:`keeper_scores` counts those whose keeper is one, and
names the transform of every other keeper (the confusion: which copies the
rules mistake for the original).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from finder.evaluate.metrics import Truth
from finder.groups.linkage import Group

ORIGINAL = "original"


@dataclass
class KeeperScores:
    """Found groups holding an original, how many keep it, and what was kept instead (by transform)."""

    groups: int = 0
    original_kept: int = 0
    instead: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # the deciding rule of each wrong keeper

    @property
    def share(self) -> float:
        return self.original_kept / self.groups if self.groups else 0.0

    def to_dict(self) -> dict:
        return {"groups_with_original": self.groups, "original_kept": self.original_kept,
                "share": round(self.share, 4), "kept_instead": dict(self.instead.most_common()),
                "wrong_keepers_decided_by": dict(self.reasons.most_common())}


def has_originals(truth: Truth, column: str = "transform") -> bool:
    """Whether ``truth`` marks originals (a ``transform`` column with ``original`` rows)."""
    return column in truth.columns and bool(np.any(truth.columns[column] == ORIGINAL))


def keeper_scores(groups: Sequence[Group], paths: Sequence[str] | np.ndarray, truth: Truth,
                  column: str = "transform") -> KeeperScores:
    """Score the keepers of ``groups`` (paths of the hash set ``truth`` labels) against the originals."""
    index = {str(p): k for k, p in enumerate(paths)}
    kind = truth.columns[column]
    scores = KeeperScores()
    for group in groups:
        members = [index[m.path] for m in group.members if m.path in index]
        if not any(kind[k] == ORIGINAL for k in members) or group.keeper not in index:
            continue
        scores.groups += 1
        kept = kind[index[group.keeper]]
        if kept == ORIGINAL:
            scores.original_kept += 1
        else:
            scores.instead[str(kept) or "(unlabelled)"] += 1
            deciding = (group.keeper_reason or "").split("; ")[-1].split(":")[0]
            scores.reasons[deciding or "(none)"] += 1
    return scores


def render_keeper_table(scores: KeeperScores, rules_text: str) -> list:
    """A rich table: the share of found groups that keep their original, and what was kept instead."""
    from rich.table import Table

    table = Table(title=f"Keeper: the original, in the groups finder cluster finds (rules: {rules_text})")
    table.add_column("groups with an original", justify="right")
    table.add_column("original kept", justify="right")
    table.add_column("share", justify="right")
    table.add_column("kept instead (transform: groups)")
    table.add_row(f"{scores.groups:,}", f"{scores.original_kept:,}", f"{scores.share:.3f}",
                  ", ".join(f"{t}: {n}" for t, n in scores.instead.most_common()) or "-")
    return [table]
