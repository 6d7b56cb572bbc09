"""Candidate pairs from local features: a bag of visual words, the classic retrieval step before verification.

Crops and small rotations move a global hash as far as an unrelated photo, so
the hash's nearest neighbours miss many of them.  Their local features still
agree, and image retrieval has a standard way to find images that share many
features without matching every pair (Sivic & Zisserman 2003, "Video Google";
Nister & Stewenius 2006, "Scalable recognition with a vocabulary tree"):

* **Vocabulary**: the ORB descriptors of the set itself are clustered into
  up to ``BRANCH x BRANCH`` = 4096 *visual words* (fewer for small sets: at
  least :data:`MIN_PER_WORD` descriptors per word) by a two-level tree of k-majority
  clusterings (k-means for binary descriptors: Hamming distance, bit-wise
  majority as the centre; Grana et al. 2013).  Trained on a seeded sample of
  the descriptors, so results are deterministic.
* **Words**: each descriptor goes to its nearest centre at each level
  (``finder.pairs.knn``), 2 x 64 distances instead of 4096.
* **Scores**: tf-idf vectors, L2-normalised; the similarity of two images is
  their cosine, or the cosine with the first image's mirrored features if
  that is larger (ORB descriptors do not survive a mirror).  Each image's
  ``k`` most similar images are its candidates.

Cost: quadratic in the number of images like all-pairs hashing, but on short
sparse vectors; see docs/concepts/verify.md for measured times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from finder.pairs.cpu import two_nearest
from finder.verify.features import Features, descriptor_words

#: Children per node of the two-level vocabulary tree: at most BRANCH ** 2 = 4096 words.
BRANCH = 64
#: Descriptors per word at least, on average: a small set gets a smaller tree (a word whose centre is the
#: majority of a handful of descriptors is noise, and copies would no longer share words).
MIN_PER_WORD = 25
#: k-majority iterations per node (Lloyd-style; the assignment barely changes after a few).
ITERATIONS = 5
#: Descriptors sampled to train the vocabulary.
SAMPLE = 100_000
#: Query rows per block when scoring (bounds the dense block of similarities).
BLOCK = 1024


@dataclass(frozen=True)
class Vocabulary:
    """A two-level tree of binary centres, packed as uint64[., 4] Hamming codes."""

    top: np.ndarray  # uint64[fan, 4]
    leaves: np.ndarray  # uint64[fan, fan, 4]; unused leaves repeat a used one

    @property
    def size(self) -> int:
        return int(self.leaves.shape[0] * self.leaves.shape[1])


def _nearest(centres: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of every code (ties: the lower index).

    :func:`finder.pairs.cpu.two_nearest`, not :func:`finder.pairs.knn`: against a few dozen centres a search
    that sorts out ``k`` neighbours per code spends its time setting up each code (3x slower here)."""
    if len(codes) == 0 or len(centres) < 2:
        return np.zeros(len(codes), np.int64)
    return two_nearest(centres, codes)[0]


def k_majority(codes: np.ndarray, k: int, rng: np.random.Generator, iterations: int = ITERATIONS) -> np.ndarray:
    """``k`` binary centres of ``codes`` (uint64[m, w]): k-means with Hamming distance and bit-wise majority.

    Starts from ``k`` distinct random codes (fewer distinct codes: all of them,
    the rest repeated); a centre that loses all its codes keeps its place.
    """
    unique = np.unique(codes, axis=0)
    if len(unique) <= k:
        return unique[np.arange(k) % len(unique)] if len(unique) else np.zeros((k, codes.shape[1]), np.uint64)
    centres = unique[np.sort(rng.choice(len(unique), k, replace=False))]
    codes = np.ascontiguousarray(codes)
    for _ in range(iterations):
        centres = _majority(codes, _nearest(centres, codes), centres)
    return centres


@njit(cache=True)
def _majority(codes, assigned, centres):  # pragma: no cover - numba
    """Each centre with members replaced by their bit-wise majority (a bit is set when more than half the
    members set it); a centre without members is kept.  One pass over the codes' bits."""
    k, words = centres.shape
    ones = np.zeros((k, 64 * words), dtype=np.int64)
    members = np.zeros(k, dtype=np.int64)
    one = np.uint64(1)
    for r in range(codes.shape[0]):
        c = assigned[r]
        members[c] += 1
        for w in range(words):
            x = codes[r, w]
            for b in range(64):
                ones[c, 64 * w + b] += np.int64((x >> np.uint64(b)) & one)
    out = centres.copy()
    for c in range(k):
        if members[c] == 0:
            continue
        for w in range(words):
            x = np.uint64(0)
            for b in range(64):
                if 2 * ones[c, 64 * w + b] > members[c]:
                    x |= one << np.uint64(b)
            out[c, w] = x
    return out


def train(descriptors: Sequence[np.ndarray], seed: int = 0) -> Vocabulary:
    """A vocabulary tree from the descriptors of a set of images (a seeded sample of at most SAMPLE)."""
    codes = np.concatenate([descriptor_words(d) for d in descriptors]) if descriptors else np.zeros((0, 4), np.uint64)
    if len(codes) == 0:
        codes = np.zeros((1, 4), np.uint64)
    rng = np.random.default_rng(seed)
    if len(codes) > SAMPLE:
        codes = codes[np.sort(rng.choice(len(codes), SAMPLE, replace=False))]
    fan = int(np.clip(np.sqrt(len(codes) / MIN_PER_WORD), 2, BRANCH))
    top = k_majority(codes, fan, rng)
    branch = _nearest(top, codes)
    order = np.argsort(branch, kind="stable")
    bounds = np.searchsorted(branch[order], np.arange(fan + 1))
    leaves = np.stack([k_majority(codes[order[bounds[b]:bounds[b + 1]]] if bounds[b + 1] > bounds[b] else top[b:b + 1],
                                  fan, rng) for b in range(fan)])
    return Vocabulary(top, leaves)


def words(vocabulary: Vocabulary, descriptors: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The visual words (0 .. size - 1) of every descriptor row, one array per image.

    All images are assigned together: one search against the top level, then
    one per branch (a few dozen searches whatever the number of images).
    """
    counts = [len(d) for d in descriptors]
    codes = np.concatenate([descriptor_words(d) for d in descriptors]) if descriptors else np.zeros((0, 4), np.uint64)
    out = np.zeros(len(codes), np.int64)
    if len(codes):
        branch = _nearest(vocabulary.top, codes)
        per = vocabulary.leaves.shape[1]
        order = np.argsort(branch, kind="stable")
        bounds = np.searchsorted(branch[order], np.arange(vocabulary.leaves.shape[0] + 1))
        for b in range(vocabulary.leaves.shape[0]):
            rows = order[bounds[b]:bounds[b + 1]]
            if len(rows):
                out[rows] = b * per + _nearest(vocabulary.leaves[b], codes[rows])
    return np.split(out, np.cumsum(counts)[:-1]) if counts else []


def _tfidf(word_lists: list[np.ndarray], size: int, idf: np.ndarray):
    """L2-normalised tf-idf rows (scipy CSR, one per image)."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(word_lists)), [len(w) for w in word_lists])
    cols = np.concatenate(word_lists) if word_lists else np.zeros(0, np.int64)
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(word_lists), size))
    matrix.sum_duplicates()
    matrix = sp.csr_matrix(matrix.multiply(idf[None, :].astype(np.float32)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(matrix.multiply((1.0 / np.maximum(norms, 1e-12))[:, None]))


def similar(
    features_a: Sequence[Features | None],
    k: int,
    features_b: Sequence[Features | None] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Each image's ``k`` most similar images by visual words: ``(i, j)`` index arrays.

    Parameters
    ----------
    features_a : features of the images (``None``: unreadable, never a candidate).
    k : candidates per image.
    features_b : with a second set, each image of ``a`` gets ``k`` candidates in
        ``b``; without, candidates come from ``a`` itself (never the image itself).
    seed : for the vocabulary's sample and initial centres.

    Returns
    -------
    i, j : int64 arrays
        Pairs ``(i in a, j in b or a)`` with a positive similarity, ``k`` or
        fewer per ``i``, sorted by ``(i, j)``.
    """
    within = features_b is None
    both = list(features_a) + ([] if within else list(features_b or []))
    descriptors = [f.descriptors for f in both if f is not None and len(f)]
    empty = np.zeros(0, np.int64)
    if not descriptors or k < 1:
        return empty, empty
    vocabulary = train(descriptors, seed)
    none = np.zeros((0, 32), np.uint8)
    lists = words(vocabulary, [f.descriptors if f is not None else none for f in both])
    mirrored = words(vocabulary, [f.mirror_descriptors if f is not None else none for f in features_a])
    present = np.zeros(vocabulary.size, np.int64)
    for w in lists:
        present[np.unique(w)] += 1
    idf = np.log(max(len(both), 1) / np.maximum(present, 1))
    vectors = _tfidf(lists, vocabulary.size, idf)
    mirror_vectors = _tfidf(mirrored, vocabulary.size, idf)
    na = len(features_a)
    base = vectors[:na] if within else vectors[na:]
    if base.shape[0] == 0:
        return empty, empty
    base_t = base.T.tocsr()
    i_parts, j_parts = [], []
    for q0 in range(0, na, BLOCK):
        # a mirrored copy shares few words with its original; its mirror's words are the original's
        q1 = min(q0 + BLOCK, na)
        block = np.maximum((vectors[q0:q1] @ base_t).toarray(), (mirror_vectors[q0:q1] @ base_t).toarray())
        if within:
            block[np.arange(block.shape[0]), np.arange(q0, q0 + block.shape[0])] = -1.0
        take = min(k, block.shape[1])
        # the k largest, ties to the lower j (a stable sort of -score)
        best = np.argsort(-block, axis=1, kind="stable")[:, :take]
        score = np.take_along_axis(block, best, axis=1)
        rows = np.repeat(np.arange(q0, q0 + block.shape[0]), take).reshape(-1, take)
        keep = score > 0
        i_parts.append(rows[keep])
        j_parts.append(best[keep])
    i, j = np.concatenate(i_parts).astype(np.int64), np.concatenate(j_parts).astype(np.int64)
    order = np.lexsort((j, i))
    return i[order], j[order]
