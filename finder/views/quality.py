"""PDQ's quality score: how much detail a row's image holds (flat images collide; see ``QUALITY_CUTOFF``)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from finder.views import QUALITY_GRID


def quality(grey64: np.ndarray) -> int:
    """PDQ's quality score of a 64x64 luma grid (values 0-255): 0 (flat) to 100 (detailed)."""
    u = (np.asarray(grey64, dtype=np.float64) * (100.0 / 255.0)).astype(np.int64)
    gradient = int(np.abs(np.diff(u, axis=0)).sum() + np.abs(np.diff(u, axis=1)).sum())
    return min(100, gradient // 90)


def image_quality(image: Image.Image) -> int:
    """:func:`quality` of ``image`` reduced to a 64x64 luma grid."""
    grid = image.resize((QUALITY_GRID, QUALITY_GRID), Image.Resampling.BOX, reducing_gap=2.0)
    return quality(np.asarray(grid.convert("L"), dtype=np.float64))
