"""Guard rails: warnings for groupings that are more likely a setting gone wrong than duplicates.

Two signs, each explainable without looking at the pictures:

* **a group of at least** :data:`MIN_GROUP` **files that holds more than** :data:`LARGEST_SHARE` **of
  them**: near-duplicates come in small groups; a picture rarely has fifty copies in one collection, and
  a fifth of a collection being one picture is rarer still, so both at once is single linkage chaining
  weak links (A like B, B like C, ... Z nothing like A) or a loose threshold (a curated set of a few
  groups of seven, like the bundled examples, is neither);
* **a radius near what two unrelated images give**: the bits of two unrelated perceptual hashes differ
  about half the time, so their distance is about ``bits / 2`` give or take ``sqrt(bits) / 2`` (a
  binomial); a radius within :data:`SIGMAS` of those standard deviations of ``bits / 2`` matches
  unrelated images by chance (FINd: 104 of 256 bits, threshold 0.406, above its default 0.375).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from finder.groups.linkage import Group
from finder.match.search import Rule

LARGEST_SHARE = 0.2
MIN_GROUP = 50
SIGMAS = 3.0


def chance_radius(bits: int) -> int:
    """The smallest radius that two unrelated ``bits``-bit hashes reach by chance (within :data:`SIGMAS`)."""
    return math.ceil(bits / 2 - SIGMAS * math.sqrt(bits) / 2)


def warnings(groups: Sequence[Group], n_files: int, rules: Sequence[Rule], linkage: str = "single") -> list[str]:
    """The guard-rail warnings for ``groups`` made from ``n_files`` files under ``rules``; empty when none."""
    from finder.algorithms import get

    found = []
    for rule in rules:
        if rule.max_distance >= chance_radius(rule.bits):
            default = get(rule.algorithm).default_threshold
            found.append(f"threshold {rule.threshold:.3g} ({rule.max_distance} of {rule.bits} bits) for "
                         f"{rule.algorithm} is near what two unrelated images give (about {rule.bits // 2} "
                         f"apart, by chance as close as {chance_radius(rule.bits)}): its groups will hold "
                         f"unrelated images; the default is {default}")
    largest = max(groups, key=lambda g: g.size, default=None)
    if largest is not None and largest.size >= MIN_GROUP and largest.size > LARGEST_SHARE * n_files:
        hint = ("--linkage star (single linkage joins chains of weak links) or a lower threshold"
                if linkage == "single" else "a lower threshold")
        found.append(f"group {largest.id} holds {largest.size:,} of {n_files:,} images "
                     f"({largest.size / n_files:.0%}): near-duplicates come in small groups; try {hint}")
    return found
