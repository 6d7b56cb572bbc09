"""Local features of images for geometric verification: ORB keypoints, computed once, cached beside the hash file.

A perceptual hash summarises the whole picture, so a crop, a small rotation or
a screenshot frame moves it as far as an unrelated photo.  Local features
survive those edits: :mod:`finder.verify.geometry` matches them between two images and
checks that the matches agree on one geometric transform.

Why ORB (OpenCV's oriented FAST + rotated BRIEF) and not SIFT: on the shared
corpus both confirm the same pairs and reject every unrelated one, but ORB is
about five times cheaper to compute (``benchmarks/verify_speed.py``), and its
256-bit binary descriptors are Hamming codes like finder's hashes, so the
visual-word index (:mod:`finder.verify.visualwords`) reuses the ``finder.pairs`` search.

Every image is converted to greyscale and resized so that its long side is
:data:`FEATURE_SIDE` pixels (small images are enlarged too: ORB ignores a 31-pixel
margin and builds an 8-level pyramid, which leave little of a 150-pixel image).
Neither ORB nor SIFT descriptors survive a mirror, so the features of the
horizontally mirrored image are stored as well: verification tries both, and
mirrored copies (which finder's mirror view finds) can be confirmed.

The cache (``hashes.features.npz`` beside ``hashes.npz``) is a plain ``.npz``
read without pickle (:mod:`finder.io.npzsafe`), written atomically; an entry is
reused while its file has the same path, size and modification time, and
recomputed otherwise.  A file at the cache's path that is not a finder feature
cache is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from finder.errors import FinderError

#: Long side, in pixels, of the greyscale image the features are computed on.
FEATURE_SIDE = 512
#: The smallest decode features need (longer side, shorter side): the working image's long side, so a JPEG is
#: decoded at the smallest DCT scale that keeps it (a 12-MP photo at 1/4), as hashing's default policy does.
DECODE_MIN = (FEATURE_SIDE, 0)
#: Keypoints kept per image (OpenCV's ORB default): enough for RANSAC, bounded matching cost.
N_FEATURES = 500
#: Bytes per ORB descriptor (256 bits).
DESCRIPTOR_BYTES = 32
FORMAT_NAME = "finder.features"  # the cache format's marker, not the module's name: never change it
FORMAT_VERSION = 1
#: Files per parallel task when features are computed (a few hundred milliseconds of work each).
CHUNK_FILES = 16


class VerifyError(FinderError):
    """Verification cannot run: OpenCV is missing, or the feature cache cannot be used."""


def require_cv2():
    """The ``cv2`` module, or a one-line error that says how to install it."""
    try:
        import cv2
    except ImportError:
        raise VerifyError("verification needs OpenCV: pip install 'finder[verify]' "
                          "(opencv-python-headless)") from None
    return cv2


@dataclass(frozen=True)
class Features:
    """ORB keypoints of one image and of its mirror, in working-image pixels.

    Attributes
    ----------
    xy : float32[m, 2]
        Keypoint positions (x, y).
    descriptors : uint8[m, 32]
        ORB descriptors, one row per keypoint.
    size : (width, height)
        Size of the working image the keypoints live in.
    mirror_xy, mirror_descriptors
        The same for the horizontally mirrored working image.
    """

    xy: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]
    mirror_xy: np.ndarray
    mirror_descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    @classmethod
    def empty(cls, size: tuple[int, int] = (0, 0)) -> Features:
        xy, des = np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
        return cls(xy, des, size, xy, des)


def descriptor_words(descriptors: np.ndarray) -> np.ndarray:
    """ORB descriptors (uint8[m, 32]) as uint64[m, 4] Hamming rows for :mod:`finder.pairs` (the bit order does
    not matter to a Hamming distance)."""
    return np.ascontiguousarray(descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES).view(np.uint64)


def settings(exif_transpose: bool) -> dict:
    """What the cached features depend on; a cache made with other settings is recomputed."""
    return {"detector": "orb", "n_features": N_FEATURES, "work_side": FEATURE_SIDE, "decode_min": list(DECODE_MIN),
            "exif_transpose": bool(exif_transpose), "format_version": FORMAT_VERSION}


def working_image(image) -> np.ndarray:
    """A Pillow image as the uint8[h, w] greyscale array features are computed on (long side FEATURE_SIDE)."""
    from PIL import Image

    grey = image.convert("L")
    scale = FEATURE_SIDE / max(grey.size)
    size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    if size != grey.size:
        grey = grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(grey)


def _orb(cv2, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    detector = cv2.ORB_create(nfeatures=N_FEATURES)
    keypoints, descriptors = detector.detectAndCompute(pixels, None)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    xy = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return xy, np.ascontiguousarray(descriptors, dtype=np.uint8)


def extract(image) -> Features:
    """ORB features of a Pillow image and of its horizontal mirror.

    Parameters
    ----------
    image : PIL.Image.Image
        Any mode; converted to greyscale and resized to a long side of
        :data:`FEATURE_SIDE` pixels first.

    Returns
    -------
    Features
        Up to :data:`N_FEATURES` keypoints for each of the two orientations.
    """
    cv2 = require_cv2()
    pixels = working_image(image)
    xy, descriptors = _orb(cv2, pixels)
    mirror_xy, mirror_descriptors = _orb(cv2, np.ascontiguousarray(pixels[:, ::-1]))
    height, width = pixels.shape
    return Features(xy, descriptors, (int(width), int(height)), mirror_xy, mirror_descriptors)


def _extract_chunk(chunk: tuple[list[str], bool]) -> list[tuple[str, Features | None, int, int, str]]:
    """Worker task: (path, features or None, size, mtime_ns, error reason) for each path."""
    from finder.io.decode import read_image

    cv2 = require_cv2()
    cv2.setNumThreads(1)  # one process per core already
    paths, exif_transpose = chunk
    out: list[tuple[str, Features | None, int, int, str]] = []
    for path in paths:
        result = read_image(path, exif_transpose, DECODE_MIN)
        if isinstance(result, tuple):
            image, stat = result
            try:
                features = extract(image)
            finally:
                image.close()
            out.append((path, features, stat.size, stat.mtime_ns, ""))
        else:
            out.append((path, None, 0, 0, result.reason))
    return out


def sidecar_path(hashfile: str | os.PathLike) -> str:
    """Where the features of a hash file's images are cached: ``NAME.features.npz`` beside ``NAME.npz``."""
    from finder.store.sidecar import path_beside

    return path_beside(hashfile, "features")


class FeatureCache:
    """Features by path, each with the size and modification time of the file it was computed from.

    Use :meth:`load` to read a cache file (a missing one is empty), :meth:`get`
    to compute what is missing or stale, and :meth:`save` to write it back.
    """

    def __init__(self, path: str | None, exif_transpose: bool = True) -> None:
        self.path = path
        self.settings = settings(exif_transpose)
        self.entries: dict[str, tuple[int, int, Features]] = {}
        self.computed = 0
        self.reused = 0
        self.changed = False

    # -- reading and writing ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | None, exif_transpose: bool = True) -> FeatureCache:
        """The cache at ``path`` (``None``: in memory only).

        A missing file, one made with other settings, or a damaged one gives
        an empty cache (it is only a cache); a file that is not a finder
        feature cache at all is an error, so that :meth:`save` cannot destroy it.
        """
        from finder.store import sidecar

        cache = cls(path, exif_transpose)
        if path is not None:
            cache.changed = sidecar.load(path, FORMAT_NAME, cache.settings, cache._read, VerifyError,
                                         "feature cache")
            if cache.changed:
                cache.entries.clear()
        return cache

    def _read(self, npz) -> None:
        from finder.store.sidecar import read_keys

        paths, size, mtime = read_keys(npz)
        n = len(paths)
        wh = npz.read("wh", "i", (n, 2))
        counts = npz.read("counts", "i", (n, 2))
        if (counts < 0).any() or (wh < 0).any():
            raise ValueError("negative counts")
        total = counts.sum(axis=0)
        xy = npz.read("xy", "f", (int(total[0]), 2))
        des = npz.read("descriptors", "u", (int(total[0]), DESCRIPTOR_BYTES))
        mxy = npz.read("mirror_xy", "f", (int(total[1]), 2))
        mdes = npz.read("mirror_descriptors", "u", (int(total[1]), DESCRIPTOR_BYTES))
        start = np.concatenate([[[0, 0]], np.cumsum(counts, axis=0)])
        for k in range(n):
            a0, a1, m0, m1 = start[k, 0], start[k + 1, 0], start[k, 1], start[k + 1, 1]
            features = Features(xy[a0:a1], des[a0:a1], (int(wh[k, 0]), int(wh[k, 1])), mxy[m0:m1], mdes[m0:m1])
            self.entries[str(paths[k])] = (int(size[k]), int(mtime[k]), features)

    def save(self) -> None:
        """Write the cache atomically (only if something changed and it has a path)."""
        if self.path is None or not self.changed:
            return
        from finder.store import sidecar

        features, keys = sidecar.entry_arrays(self.entries)
        arrays = {
            **keys,
            "wh": np.array([f.size for f in features], np.int64).reshape(-1, 2),
            "counts": np.array([(len(f.xy), len(f.mirror_xy)) for f in features], np.int64).reshape(-1, 2),
            "xy": _stack([f.xy for f in features], (0, 2), np.float32),
            "descriptors": _stack([f.descriptors for f in features], (0, DESCRIPTOR_BYTES), np.uint8),
            "mirror_xy": _stack([f.mirror_xy for f in features], (0, 2), np.float32),
            "mirror_descriptors": _stack([f.mirror_descriptors for f in features], (0, DESCRIPTOR_BYTES), np.uint8),
        }
        sidecar.save(self.path, FORMAT_NAME, self.settings, arrays, VerifyError, "feature cache")
        self.changed = False

    # -- lookups -----------------------------------------------------------------------------------------------

    def _fresh(self, path: str) -> Features | None:
        entry = self.entries.get(path)
        if entry is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (int(st.st_size), int(st.st_mtime_ns)) != entry[:2]:
            return None
        return entry[2]

    def get(
        self,
        paths: Sequence[str],
        jobs: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
    ) -> list[Features | None]:
        """Features of every path (``None`` for a file that cannot be read), computing the missing and stale ones.

        Parameters
        ----------
        paths : files, e.g. a HashSet's paths.
        jobs : worker processes for the ones computed (default: all cores).
        progress : called with the number of files done after each chunk.
        on_error : called with (path, reason) for each file that cannot be read.
        """
        from finder.engine import local_executor

        paths = [str(p) for p in paths]
        found: dict[str, Features | None] = {}
        missing: list[str] = []
        for path in dict.fromkeys(paths):
            cached = self._fresh(path)
            if cached is None:
                missing.append(path)
            else:
                found[path] = cached
                self.reused += 1
        if progress is not None and found:
            progress(len(found))
        chunks = [(missing[k:k + CHUNK_FILES], bool(self.settings["exif_transpose"]))
                  for k in range(0, len(missing), CHUNK_FILES)]
        workers = min(jobs or os.cpu_count() or 1, max(1, len(chunks)))
        with local_executor(workers) as executor:
            for results in executor.map(_extract_chunk, chunks):
                for path, features, size, mtime_ns, reason in results:
                    found[path] = features
                    if features is None:
                        self.entries.pop(path, None)
                        if on_error is not None:
                            on_error(path, reason)
                    else:
                        self.entries[path] = (size, mtime_ns, features)
                        self.computed += 1
                    self.changed = True
                if progress is not None:
                    progress(len(results))
        return [found[p] for p in paths]


def _stack(parts: list[np.ndarray], empty_shape: tuple[int, int], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty_shape, dtype)
