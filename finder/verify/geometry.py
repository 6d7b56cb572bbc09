"""Geometric verification of one image pair: do their local features agree on one transform?

Two copies of one picture -- resized, re-encoded, cropped, padded, rotated,
framed as a screenshot -- share many keypoints whose positions are related by
a single projective transform (a homography).  Two different pictures share
few, and those few do not agree on any transform.  The check is the standard
one from image retrieval and structure from motion, with published cut-offs
(none was fitted to finder's corpus):

1. **Lowe's ratio test** (Lowe 2004, IJCV 60(2), section 7.1): a match counts
   only if its nearest descriptor is clearly closer than the second nearest,
   ``d1 < RATIO * d2``; 0.8 "eliminates 90% of the false matches while
   discarding less than 5% of the correct matches".
2. **One-to-one**: a keypoint of the second image takes part in at most one
   match (the closest).  Repeated textures and flat areas otherwise send many
   keypoints to one point, and a degenerate transform fits all of them.
3. **RANSAC transform**: an affine map first (OpenCV ``estimateAffine2D``:
   robust with few or clustered keypoints), then a homography
   (``findHomography``: perspective; tried only where the affine map found
   at least half the inliers required, :data:`HOMOGRAPHY_AFTER`), each with OpenCV's default
   reprojection error of 3 px on the 512-px working images, and two of
   COLMAP's two-view geometry defaults: at least :data:`MIN_INLIERS` = 15
   inliers (``min_num_inliers``) and at least :data:`MIN_INLIER_RATIO` = 25 %
   of the matches (``min_inlier_ratio``): the *share of matched keypoints*
   that agree.
4. **Plausible transform**: the first image's frame must map to a convex
   quadrilateral (a folded frame is no view of the same picture) of 1/100 to
   100 times the second image's area.
5. **Overlap of the matched region**: the convex hull of the inliers must
   cover at least :data:`MIN_OVERLAP` = a tenth of the area spanned by all
   keypoints of at least one of the two images.  A shared logo, watermark or
   caption on two different photos covers less.

Mirrored copies: ORB descriptors do not survive a mirror, so a pair that fails
is tried once more against the second image's mirrored features
(:mod:`finder.verify.features`).  A failed pair in which either image has fewer than
:data:`MIN_KEYPOINTS` keypoints (a flat, smooth or tiny image: gradients and
flat designs give ORB almost no corners) is reported as *undecided*, so that
callers can keep what the hash said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from finder.verify.features import Features, descriptor_words, require_cv2

#: Lowe's ratio test (Lowe 2004): nearest / second-nearest descriptor distance below this.
RATIO = 0.8
#: COLMAP's two-view geometry ``min_num_inliers``.
MIN_INLIERS = 15
#: COLMAP's two-view geometry ``min_inlier_ratio``: inliers / tentative matches.
MIN_INLIER_RATIO = 0.25
#: Transforms tried in turn: an affine map (6 degrees of freedom: resize, aspect, crop, pad, rotation, shear)
#: is fitted robustly even from few, clustered keypoints; a homography (8) adds perspective.
MODELS = ("affine", "homography")
#: A copy's frame, mapped into the other image, covers 1/100 to 100 times its area (both are 512 px long):
#: at most ten times smaller or larger in each direction.  Degenerate fits map the frame to a sliver.
MIN_AREA_RATIO = 0.01
#: OpenCV's default RANSAC reprojection error, in working-image pixels (long side 512).
RANSAC_PIXELS = 3.0
#: RANSAC confidence (OpenCV's default).
RANSAC_CONFIDENCE = 0.995
#: Points a minimal sample of each model takes.
SAMPLE_POINTS = {"affine": 3, "homography": 4}


def ransac_iterations(points: int, inlier_ratio: float = MIN_INLIER_RATIO,
                      confidence: float = RANSAC_CONFIDENCE) -> int:
    """The most RANSAC iterations a fit needs: enough to draw, with ``confidence``, one sample of inliers only
    from matches of which ``inlier_ratio`` are inliers -- the least share the check accepts, so a pair it would
    accept is found as often as with more iterations (Fischler & Bolles 1981; Hartley & Zisserman 2004,
    section 4.7.1: N = log(1 - p) / log(1 - w^s)).  Affine (3 points) 337, homography (4 points) 1,354, where
    OpenCV's default is 2,000 for both; most checked pairs are unrelated photos, whose fits run every
    iteration."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - inlier_ratio ** points))


#: The homography is fitted only where the affine map found at least this many inliers (half of MIN_INLIERS).
#: It generalises the affine map, and a copy's perspective is mild enough that its features agree on an affine
#: map within RANSAC_PIXELS over much of the picture; matches between unrelated photos reach a consensus of
#: about 4 (median over the corpus's and a synth set's failed fits).  Those fits were 99 % of the homographies
#: fitted, each running every iteration (docs/concepts/verify.md).
HOMOGRAPHY_AFTER = (MIN_INLIERS + 1) // 2
#: The inliers' convex hull must cover this share of the area spanned by one image's keypoints.
MIN_OVERLAP = 0.1
#: Fewer keypoints than this in either image and a failed check is *undecided*: a real copy that keeps a
#: quarter of them (a heavy crop, blur or screenshot scaling) could not show MIN_INLIERS inliers.
MIN_KEYPOINTS = 4 * MIN_INLIERS


@dataclass(frozen=True)
class Check:
    """The outcome of verifying one pair.

    Attributes
    ----------
    ok : the pair passed every rule.
    decided : False when the pair failed but either image has too few keypoints for that to be conclusive.
    matches : tentative matches after the ratio test and the one-to-one rule.
    inliers : matches consistent with the RANSAC homography.
    overlap : the larger of the two images' matched-region shares.
    mirrored : the second image's mirrored features matched.
    model : the transform that fitted ("affine" or "homography"; "" when none passed).
    """

    ok: bool
    decided: bool
    matches: int = 0
    inliers: int = 0
    overlap: float = 0.0
    mirrored: bool = False
    model: str = ""


def _hull_area(cv2, points: np.ndarray) -> float:
    if len(points) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(np.ascontiguousarray(points, dtype=np.float32))))


def _tentative(cv2, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test, one-to-one matches: (rows of a, rows of b).

    Each descriptor of ``a`` and its two nearest of ``b`` (brute force in finder's Hamming kernel,
    :func:`finder.pairs.cpu.two_nearest`: the matches of OpenCV's ``BFMatcher.knnMatch(k=2)``, several times
    faster, tested against it); a tie for the nearest fails the ratio test whichever row comes first.
    """
    if len(b) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    from finder.pairs.cpu import two_nearest

    nearest, d1, d2 = two_nearest(descriptor_words(b), descriptor_words(a))
    passed = np.flatnonzero(d1 < RATIO * d2)
    if not len(passed):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    q, t, d = passed, nearest[passed], d1[passed]
    order = np.lexsort((q, d, t))  # by train row, then distance: the first of each train row is its closest
    q, t = q[order], t[order]
    first = np.ones(len(t), dtype=bool)
    first[1:] = t[1:] != t[:-1]
    return q[first].astype(np.int64), t[first].astype(np.int64)


def _fit(cv2, model: str, pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A 3x3 transform from ``pa`` to ``pb`` and the inlier mask, by RANSAC."""
    if model == "affine":
        affine, mask = cv2.estimateAffine2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS,
                                            maxIters=ransac_iterations(SAMPLE_POINTS[model]),
                                            confidence=RANSAC_CONFIDENCE)
        return (None, None) if affine is None else (np.vstack([affine, [0.0, 0.0, 1.0]]), mask)
    return cv2.findHomography(pa, pb, cv2.RANSAC, RANSAC_PIXELS, maxIters=ransac_iterations(SAMPLE_POINTS[model]),
                              confidence=RANSAC_CONFIDENCE)


def _plausible(cv2, transform: np.ndarray, size_a: tuple[int, int], size_b: tuple[int, int]) -> bool:
    """The first frame maps to a convex quadrilateral of 1/100 to 100 times the second frame's area."""
    w, h = size_a
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
    frame = cv2.perspectiveTransform(corners, transform).reshape(-1, 2)
    if not np.isfinite(frame).all() or not cv2.isContourConvex(frame.astype(np.float32)):
        return False
    ratio = abs(cv2.contourArea(frame.astype(np.float32))) / max(size_b[0] * size_b[1], 1)
    return MIN_AREA_RATIO <= ratio <= 1 / MIN_AREA_RATIO


def _check_one(cv2, a: Features, xb: np.ndarray, db: np.ndarray, size_b: tuple[int, int], mirrored: bool) -> Check:
    xa, da = a.xy, a.descriptors
    if len(da) < MIN_INLIERS or len(db) < MIN_INLIERS:
        return Check(False, False, mirrored=mirrored)
    qa, tb = _tentative(cv2, da, db)
    if len(qa) < MIN_INLIERS:
        return Check(False, True, len(qa), mirrored=mirrored)
    pa, pb = xa[qa], xb[tb]
    best = Check(False, True, len(qa), mirrored=mirrored)
    for model in MODELS:
        if model == "homography" and best.inliers < HOMOGRAPHY_AFTER:
            break
        transform, mask = _fit(cv2, model, pa, pb)
        if transform is None or mask is None:
            continue
        inlier = mask.ravel().astype(bool)
        inliers = int(inlier.sum())
        if (inliers < MIN_INLIERS or inliers < MIN_INLIER_RATIO * len(qa)
                or not _plausible(cv2, transform, a.size, size_b)):
            if inliers > best.inliers:
                best = Check(False, True, len(qa), inliers, mirrored=mirrored)
            continue
        overlap = max(_hull_area(cv2, pa[inlier]) / max(_hull_area(cv2, xa), 1.0),
                      _hull_area(cv2, pb[inlier]) / max(_hull_area(cv2, xb), 1.0))
        result = Check(overlap >= MIN_OVERLAP, True, len(qa), inliers, round(overlap, 4), mirrored, model)
        if result.ok:
            return result
        if inliers > best.inliers:
            best = result
    return best


def check(a: Features, b: Features) -> Check:
    """Verify that ``a`` and ``b`` show the same picture (possibly cropped, rotated, framed or mirrored).

    Parameters
    ----------
    a, b : Features
        From :func:`finder.verify.features.extract` (or the cache).

    Returns
    -------
    Check
        ``ok`` when the direct or the mirrored features pass every rule; of two
        failures, the one with more inliers is reported.  Symmetric: the image
        with fewer keypoints is always the one matched into the other.
    """
    cv2 = require_cv2()
    if (len(b), b.size) < (len(a), a.size):  # the image with fewer keypoints is matched into the other:
        a, b = b, a  # check(a, b) and check(b, a) agree
    direct = _check_one(cv2, a, b.xy, b.descriptors, b.size, False)
    if direct.ok:
        return direct
    best = direct
    if len(b.mirror_descriptors):
        mirrored = _check_one(cv2, a, b.mirror_xy, b.mirror_descriptors, b.size, True)
        if mirrored.ok:
            return mirrored
        if mirrored.inliers > direct.inliers:
            best = mirrored
    if min(len(a), len(b)) < MIN_KEYPOINTS:
        return replace(best, decided=False)
    return best


def check_chunk(chunk: tuple[list[tuple[int, int, int]], dict[int, Features], dict[int, Features]]) -> list[tuple]:
    """Worker task: ``(k, ok, decided, inliers, mirrored)`` for each ``(k, (ia, ib))`` pair index of a chunk.

    ``chunk`` is ``(pairs, features_a, features_b)`` where ``pairs`` lists
    ``(k, ia, ib)`` and the dicts hold the features those indices need.
    """
    cv2 = require_cv2()
    cv2.setNumThreads(1)
    pairs, fa, fb = chunk
    out = []
    for k, ia, ib in pairs:
        result = check(fa[ia], fb[ib])
        out.append((k, result.ok, result.decided, result.inliers, result.mirrored))
    return out
