"""Pairs from HashSets, threshold semantics, and both linkages, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from finder.groups.build import cluster
from finder.groups.linkage import group_indices
from finder.match.search import MatchError, find_pairs, radius
from tests.helpers import brute_components, brute_distances, planted, synthetic_hashset


@pytest.mark.parametrize("bits,threshold,expected", [
    (256, 0.39, 99), (64, 0.16, 10), (64, 0.0, 0), (256, 1.0, 256), (10, 0.3, 3), (64, 0.25, 16),
])
def test_threshold_is_distance_over_bits_at_or_below(bits, threshold, expected):
    d = radius(bits, threshold=threshold)
    assert d == expected
    assert d / bits <= threshold + 1e-12 and (d + 1) / bits > threshold


def test_radius_defaults_and_errors():
    # the documented defaults: find 0.375, dhash 0.22, ahash 0.05
    assert radius(256, algorithm="find") == 96 and radius(64, algorithm="dhash") == 14
    assert radius(64, algorithm="ahash") == 3
    assert radius(64, max_distance=64) == 64
    for kwargs in ({"threshold": 1.5}, {"threshold": -0.1}, {"max_distance": 65},
                   {"threshold": 0.1, "max_distance": 3}):
        with pytest.raises(MatchError):
            radius(64, **kwargs)


@pytest.mark.parametrize("words", [1, 4])
def test_find_pairs_within_and_across_equal_brute_force(words):
    h = planted(60, words, seed=words)
    paths = [f"{k:03d}.jpg" for k in range(60)]
    hs = synthetic_hashset(paths, {"x": h})
    dist = brute_distances(h, h)
    d = 8 * words
    pairs = find_pairs(hs, threshold=d / (64 * words))
    expected = [(a, b, dist[a, b]) for a in range(60) for b in range(a + 1, 60) if dist[a, b] <= d]
    assert list(zip(pairs.i.tolist(), pairs.j.tolist(), pairs.distance.tolist())) == expected
    other = synthetic_hashset(paths[:20], {"x": h[10:30]})
    across = find_pairs(hs, max_distance=d, b=other)
    cross = dist[:, 10:30]
    expected = [(a, b, cross[a, b]) for a in range(60) for b in range(20) if cross[a, b] <= d]
    assert list(zip(across.i.tolist(), across.j.tolist(), across.distance.tolist())) == expected


def test_find_pairs_argument_errors():
    one = synthetic_hashset(["a"], {"find": np.zeros((1, 4)), "dhash": np.zeros((1, 1))})
    with pytest.raises(MatchError, match="several algorithms \\(find, dhash\\); choose one"):
        find_pairs(one, max_distance=3)
    with pytest.raises(MatchError, match="no phash hashes"):
        find_pairs(one, "phash", max_distance=3)
    narrow = synthetic_hashset(["b"], {"find": np.zeros((1, 1))})
    with pytest.raises(MatchError, match="differ in width: 256 bits against 64"):
        find_pairs(one, "find", max_distance=3, b=narrow)
    with pytest.raises(MatchError, match="second hash file has no dhash"):
        find_pairs(one, "dhash", max_distance=3, b=narrow)


def random_edges(n, m, seed):
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i < j
    return i[keep], j[keep]


@pytest.mark.parametrize("seed", range(5))
def test_single_linkage_is_connected_components(seed):
    n = 80
    i, j = random_edges(n, 60, seed)
    groups = group_indices(n, i, j, "single")
    assert sorted(map(sorted, groups)) == sorted(map(sorted, brute_components(n, zip(i.tolist(), j.tolist()))))


@pytest.mark.parametrize("seed", range(5))
def test_star_groups_partition_and_every_member_matches_its_representative(seed):
    n = 80
    i, j = random_edges(n, 90, seed)
    edges = set(zip(i.tolist(), j.tolist())) | set(zip(j.tolist(), i.tolist()))
    groups = group_indices(n, i, j, "star")
    assert sorted(int(x) for g in groups for x in g) == list(range(n))
    degree = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    for g in groups:
        rep = int(g[0])
        assert all((rep, int(x)) in edges for x in g[1:])
        assert degree[rep] == degree[g].max()
    # no star group is larger than its representative's neighbourhood
    assert all(len(g) <= degree[g[0]] + 1 for g in groups)


def test_star_does_not_chain_but_single_does():
    # 0-1-2-3-4 a chain of near copies: single links all, star splits
    i, j = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    assert [sorted(g.tolist()) for g in group_indices(5, i, j, "single")] == [[0, 1, 2, 3, 4]]
    star = group_indices(5, i, j, "star")
    assert [(int(g[0]), sorted(g.tolist())) for g in star] == [(1, [0, 1, 2]), (3, [3, 4])]


def test_cluster_orders_groups_and_members():
    # three groups of sizes 3, 2, 2 and one singleton; distances known by construction
    base = np.array([[0], [0xFF00], [0xFF00FF00], [0xFFFF0000FFFF0000]], dtype=np.uint64)
    rows = [base[0], base[0] ^ np.uint64(1), base[0] ^ np.uint64(3),  # group a: distances 0,1,2
            base[1], base[1] ^ np.uint64(1 << 40),                    # group b
            base[2], base[2] ^ np.uint64(1),                          # group c
            base[3]]
    paths = ["a0", "a1", "a2", "z0", "z1", "m0", "m1", "single"]
    hs = synthetic_hashset(paths, {"x": np.array(rows)})
    groups = cluster(hs, max_distance=2)
    assert [g.size for g in groups] == [3, 2, 2]
    assert [g.members[0].path for g in groups][1:] == ["m0", "z0"]  # equal size: by first path
    # all three match each other (degree 2 each): the first path represents, members by distance
    assert [(m.path, m.distance) for m in groups[0].members] == [("a0", 0), ("a1", 1), ("a2", 2)]
    assert [g.id for g in groups] == [0, 1, 2]
    with_singletons = cluster(hs, max_distance=2, min_size=1)
    assert with_singletons[-1].members[0].path == "single" and len(with_singletons) == 4


def test_empty_and_tiny_sets():
    for n in (0, 1, 2):
        hs = synthetic_hashset([f"{k}" for k in range(n)], {"x": np.zeros((n, 4))})
        pairs = find_pairs(hs, max_distance=0)
        assert len(pairs.i) == n * (n - 1) // 2
        assert len(cluster(hs, max_distance=0)) == (1 if n == 2 else 0)


def test_pairs_in_blocks_equal_pairs_in_one_go():
    from finder.match.search import iter_pairs, iter_voted_pairs, make_rules, vote_pairs

    words = planted(300, 4, seed=11, copies=5, flips=20)
    hs = synthetic_hashset([f"{k:04d}.jpg" for k in range(300)], {"find": words, "dhash": words[:, :1]},
                           {"find": 256, "dhash": 64})
    whole = find_pairs(hs, "find", max_distance=40)
    for block in (1, 7, 64, 299, 300, 1000):
        chunks = list(iter_pairs(hs, "find", max_distance=40, block=block))
        assert np.array_equal(np.concatenate([c.i for c in chunks]), whole.i)
        assert np.array_equal(np.concatenate([c.j for c in chunks]), whole.j)
        assert np.array_equal(np.concatenate([c.distance for c in chunks]), whole.distance)
    rules = make_rules(hs, ["find", "dhash"], {"find": 0.15}, {"dhash": 20})
    voted = vote_pairs(hs, rules, 1)
    chunks = list(iter_voted_pairs(hs, rules, 1, block=13))
    assert np.array_equal(np.concatenate([c.i for c in chunks]), voted.i)
    assert np.array_equal(np.concatenate([c.distance for c in chunks], axis=1), voted.distance)
    other = synthetic_hashset(["b.jpg"] * 1 + [f"b{k}.jpg" for k in range(49)], {"find": words[:50]})
    across = find_pairs(hs, "find", max_distance=40, b=other)
    chunks = list(iter_pairs(hs, "find", max_distance=40, b=other, block=17))
    assert np.array_equal(np.concatenate([c.j for c in chunks]), across.j)
    brute = brute_distances(words, words[:50])
    assert len(across) == int((brute <= 40).sum())


def test_rows_of_views_collapse_to_file_pairs_at_their_smallest_distance():
    from finder.match.search import find_pairs as pairs_of
    from finder.store.hashset import HashSet

    rng = np.random.default_rng(5)
    rows = rng.integers(0, 2**63, (5, 1), np.uint64)
    rows[3] = rows[0] ^ np.uint64(0b111)  # file 1's second view is 3 bits from file 0's first
    rows[4] = rows[2] ^ np.uint64(1)     # file 2's second view is 1 bit from its own first: never a pair
    hs = HashSet(paths=["a", "b", "c"], hashes={"dhash": rows}, bits={"dhash": 64}, size=np.ones(3),
                 mtime_ns=np.ones(3), owner={"dhash": np.array([0, 1, 2, 1, 2])},
                 view={"dhash": np.array([0, 0, 0, 0, 0], np.uint8)})
    brute = brute_distances(rows, rows)
    owner = np.array([0, 1, 2, 1, 2])
    expected = {}
    for x in range(5):
        for y in range(5):
            f, g = owner[x], owner[y]
            if f < g and brute[x, y] <= 10:
                expected[(f, g)] = min(expected.get((f, g), 99), brute[x, y])
    found = pairs_of(hs, "dhash", max_distance=10)
    assert {(int(i), int(j)): int(d) for i, j, d in zip(found.i, found.j, found.distance)} == expected
    assert (0, 1) in expected and expected[(0, 1)] == 3


def test_guard_rails_warn_of_a_loose_threshold_and_a_giant_group():
    """Issue 19, item 5: a radius within three standard deviations of the distance of unrelated hashes (a
    binomial: bits / 2 +- sqrt(bits) / 2), and a group of 50 or more files that holds more than a fifth of
    them, warn; a curated set of a few groups of seven does not."""
    import math

    from finder.groups.guards import chance_radius, warnings
    from finder.groups.linkage import Group, Member
    from finder.match.search import Rule

    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**64, (2, 20000, 4), dtype=np.uint64, endpoint=False)
    unrelated = np.bitwise_count(words[0] ^ words[1]).sum(1)
    share_below = float((unrelated < chance_radius(256)).mean())
    assert share_below < 0.003  # three sigmas: about 0.13 % of unrelated pairs are closer
    assert chance_radius(256) == math.ceil(128 - 3 * 8) == 104
    small = [Group(k, f"/p/{k}a", [Member(f"/p/{k}a", 0), Member(f"/p/{k}b", 1)]) for k in range(5)]
    assert warnings(small, 100, [Rule("find", 256, 96)]) == []
    loose = warnings(small, 100, [Rule("find", 256, 153)])
    assert len(loose) == 1 and "near what two unrelated images give" in loose[0] and "0.375" in loose[0]
    giant = [Group(0, "/p/0", [Member(f"/p/{k}", k) for k in range(60)])]
    told = warnings(giant, 200, [Rule("find", 256, 96)])
    assert len(told) == 1 and "holds 60 of 200 images (30%)" in told[0] and "--linkage star" in told[0]
    assert warnings(giant, 200, [Rule("find", 256, 96)], linkage="star")[0].endswith("a lower threshold")
    assert warnings(giant, 400, [Rule("find", 256, 96)]) == []  # 15 %: a large group, not a fifth
    sevens = [Group(k, f"/p/{k}-0", [Member(f"/p/{k}-{m}", m) for m in range(7)]) for k in range(4)]
    assert warnings(sevens, 28, [Rule("find", 256, 96)]) == []  # the bundled examples: 25 %, but groups of 7


def test_a_blocked_search_of_one_set_through_one_index_gives_every_pair_once():
    """Within one set of plain hashes at a small radius the blocks share one multi-index (search_index);
    the pairs are those numpy's reference search finds, each once with i < j, in (i, j) order."""
    from finder import pairs as _pairs
    from finder.match.search import iter_pairs, search_index
    from tests.helpers import planted, synthetic_hashset

    words = planted(6000, 4, seed=11, copies=3, flips=5)
    hs = synthetic_hashset([f"/p/{k:05d}.jpg" for k in range(6000)], {"find": words})
    assert search_index(hs, "find", None, 8, blocks=9) is not None
    found = _pairs.Pairs.concat(list(iter_pairs(hs, "find", max_distance=8, block=700)))
    expected = _pairs.pairs_within(words, 8, backend="reference")
    assert len(expected) > 3000
    assert np.array_equal(found.i, expected.i) and np.array_equal(found.j, expected.j)
    assert np.array_equal(found.distance, expected.distance)


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_streamed_single_linkage_gives_the_groups_of_all_pairs_at_once(kernel):
    """Edges fed in blocks (as a search yields them) against the components a breadth-first search finds."""
    from finder.groups.linkage import StreamedLinkage, group_indices
    from tests.helpers import brute_components

    rng = np.random.default_rng(8)
    n = 400
    i = rng.integers(0, n, 300)
    j = rng.integers(0, n, 300)
    keep = i != j
    i, j = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
    streamed = StreamedLinkage(n, kernel=kernel)
    for part in np.array_split(np.arange(len(i)), 7):
        streamed.add(i[part], j[part])
    got = streamed.groups()
    assert sorted(map(sorted, (set(g.tolist()) for g in got))) == sorted(
        map(sorted, brute_components(n, list(zip(i.tolist(), j.tolist())))))
    assert [g.tolist() for g in got] == [g.tolist() for g in group_indices(n, i, j, "single")]


def test_find_groups_streams_the_pairs_and_groups_as_the_pairs_would():
    from finder.groups.build import cluster, find_groups
    from finder.match.search import Rule, find_pairs
    from tests.helpers import planted, synthetic_hashset

    words = planted(3000, 4, seed=4, copies=4, flips=20)
    hs = synthetic_hashset([f"/p/{k:05d}.jpg" for k in range(3000)], {"find": words})
    rule = Rule("find", 256, 40)
    pairs = find_pairs(hs, "find", max_distance=40)
    assert len(pairs) > 3000
    expected = cluster(hs, "find", max_distance=40, pairs=pairs)
    assert find_groups(hs, [rule]) == expected
