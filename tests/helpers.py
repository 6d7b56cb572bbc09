"""Test helpers: synthetic hash sets and brute-force references."""

from __future__ import annotations

import numpy as np

from finder.store.hashset import HashSet


def synthetic_hashset(paths, hashes: dict[str, np.ndarray], bits: dict[str, int] | None = None) -> HashSet:
    n = len(paths)
    bits = bits or {name: h.shape[1] * 64 for name, h in hashes.items()}
    return HashSet(paths=list(paths), hashes={k: np.ascontiguousarray(v, np.uint64) for k, v in hashes.items()},
                   bits=bits, size=np.ones(n, np.int64), mtime_ns=np.ones(n, np.int64))


def planted(n: int, words: int, seed: int = 0, copies: int = 3, flips: int = 4) -> np.ndarray:
    """Random hashes where every block of ``copies`` rows are near copies (a few bits flipped)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, (n, words), dtype=np.uint64, endpoint=False)
    for k in range(n):
        if k % copies:
            row = base[k - k % copies].copy()
            for bit in rng.integers(0, 64 * words, flips):
                row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
            base[k] = row
    return base


def brute_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All distances a x b by unpacking bits (independent of finder's kernels)."""
    ua = np.unpackbits(a.view(np.uint8), axis=1).astype(np.int32)
    ub = np.unpackbits(b.view(np.uint8), axis=1).astype(np.int32)
    return (ua[:, None, :] != ub[None, :, :]).sum(axis=2)


def brute_components(n: int, edges) -> list[set[int]]:
    """Connected components by breadth-first search."""
    adjacency = {k: set() for k in range(n)}
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    seen, components = set(), []
    for start in range(n):
        if start in seen:
            continue
        component, frontier = {start}, [start]
        while frontier:
            node = frontier.pop()
            for nxt in adjacency[node] - component:
                component.add(nxt)
                frontier.append(nxt)
        seen |= component
        components.append(component)
    return components
