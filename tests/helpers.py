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


def write_dng(source, target) -> None:
    """A small real DNG of the photo ``source``, made with pidng (PyPI), the way a camera records one.

    The photo's pixels are made linear (gamma 2.2), laid out on an RGGB Bayer mosaic at 12 bits, and written
    with the colour matrix of linear sRGB (XYZ to camera), white balance neutral: LibRaw's standard
    rendering of the file gives back the photo, demosaiced (mean difference about 8 levels).
    """
    import numpy as np
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, PhotometricInterpretation
    from PIL import Image

    rgb = Image.open(source).convert("RGB")
    w, h = rgb.width - rgb.width % 2, rgb.height - rgb.height % 2
    linear = ((np.asarray(rgb.crop((0, 0, w, h)), dtype=np.float64) / 255.0) ** 2.2 * 4095).astype(np.uint16)
    bayer = np.zeros((h, w), np.uint16)
    bayer[0::2, 0::2], bayer[0::2, 1::2] = linear[0::2, 0::2, 0], linear[0::2, 1::2, 1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = linear[1::2, 0::2, 1], linear[1::2, 1::2, 2]
    srgb_from_xyz = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
    tags = DNGTags()
    for tag, value in ((Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
                       (Tag.Orientation, 1), (Tag.PhotometricInterpretation,
                                              PhotometricInterpretation.Color_Filter_Array),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
                       (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
                       (Tag.ColorMatrix1, [[round(v * 10000), 10000] for v in srgb_from_xyz]),
                       (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.BaselineExposure, [[0, 1]]),
                       (Tag.Make, "finder"), (Tag.Model, "test mosaic"), (Tag.DNGVersion, [1, 4, 0, 0]),
                       (Tag.DNGBackwardVersion, [1, 2, 0, 0])):
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    stem = str(target)[:-4] if str(target).lower().endswith(".dng") else str(target)
    writer.convert(bayer, filename=stem)
