"""Layout bits: which bits they are, the chance cut-off, and what the check does to real matches."""

from __future__ import annotations

import numpy as np
import pytest

from finder.algorithms.find import median_bits
from finder.match.layout import chance_cutoff, confirms, layout_distance, layout_mask


@pytest.mark.parametrize("k", [1, 5, 16, 20, 25])
def test_chance_cutoff_is_a_one_sided_binomial_test_at_five_percent(k):
    # Independent of the formula: count, over all 2**k equally likely agreement patterns, those with at
    # most c differing bits.
    differing = np.bitwise_count(np.arange(2**k, dtype=np.uint32))
    share = [np.mean(differing <= c) for c in range(k + 1)]
    want = max([c for c in range(k + 1) if share[c] <= 0.05], default=-1)
    assert chance_cutoff(k) == want


def test_find_cutoff_is_seven_of_twenty_five():
    assert chance_cutoff(25) == 7  # P(<= 7) = 2.2 %, P(<= 8) = 5.4 %


def test_find_layout_bits_are_its_five_by_five_lowest_frequencies():
    # Hash DCT blocks with FINd's own bit packing. Swapping the values of a coefficient and of one on the
    # other side of the median, far from the low frequencies, keeps the median and flips exactly those
    # two bits: the layout bits then differ by one when the first lies in the 5x5 lowest frequencies.
    rng = np.random.default_rng(3)
    base = rng.permutation(np.arange(256.0) - 127.5).reshape(16, 16)
    above = base > np.sort(base.ravel())[127]
    mask = layout_mask("find")
    assert int(np.bitwise_count(mask).sum()) == 25
    far = [(p, q) for p in range(8, 16) for q in range(8, 16)]
    for i in range(16):
        for j in range(16):
            p, q = next(c for c in far if above[c] != above[i, j] and c != (i, j))
            other = base.copy()
            other[i, j], other[p, q] = base[p, q], base[i, j]
            a, b = median_bits(base), median_bits(other)
            assert int(np.bitwise_count(a ^ b).sum()) == 2
            assert int(layout_distance(a[None], b[None], mask)[0]) == (1 if i < 5 and j < 5 else 0), (i, j)
    assert layout_mask("dhash") is None and confirms("dhash", np.zeros((1, 1), np.uint64),
                                                      np.zeros((1, 1), np.uint64)) is None


def test_confirms_up_to_the_cutoff():
    mask = layout_mask("find")
    layout_bits = [k for k in range(256) if int(mask[k // 64]) >> (63 - k % 64) & 1]
    a = np.zeros((26, 4), np.uint64)
    b = a.copy()
    for m in range(26):  # row m differs in its first m layout bits
        for k in layout_bits[:m]:
            b[m, k // 64] |= np.uint64(1) << np.uint64(63 - k % 64)
    assert confirms("find", a, b).tolist() == [m <= 7 for m in range(26)]
