"""How much detail an image holds along each axis: what tells an original from its upsampled copy.

An upsampled (or blurred, or stretched) copy has as many pixels as its original, or more, but no detail
above its source's resolution.  Natural images have a power spectrum falling off about as 1/f², so the
*whitened* spectrum (power times f²) of a sharp photo spreads over every frequency up to the Nyquist
frequency, while an upscale by ``u`` has almost nothing above ``1/u`` of it.  :func:`detail` gives, per
axis, the frequency below which :data:`DETAIL_SHARE` of the whitened energy lies, as a share of the
Nyquist frequency: about the same for a photo and its re-encodes, lower by the factor for a copy
upsampled along that axis.  ``detail * pixels across`` is the effective resolution: the pixels a copy
would need to hold what it shows.

It is measured on :data:`SAMPLED_LINES` rows and as many columns spread over the image (a few ms for a
2,000-pixel image), each windowed (Hann) so the image's edges add no false detail.
"""

from __future__ import annotations

import numpy as np

# The share of whitened energy the detail frequency holds below it.  Any quantile from a half to nine
# tenths orders a photo and its upsampled copies the same way; the upper quartile leaves room for the
# noise and ringing of lossy coding, which add high-frequency energy to every copy alike.
DETAIL_SHARE = 0.75
SAMPLED_LINES = 64
MIN_SIDE = 16
#: Rows the noise level is measured on (each with its two neighbours).
NOISE_ROWS = 128


def _axis_detail(lines: np.ndarray) -> float:
    """Detail of ``lines`` (one per row, float luma) along their length, as a share of Nyquist."""
    n = lines.shape[1]
    lines = (lines - lines.mean(axis=1, keepdims=True)) * np.hanning(n)
    power = (np.abs(np.fft.rfft(lines, axis=1)) ** 2).mean(axis=0)
    whitened = power * np.arange(len(power)) ** 2
    total = whitened.sum()
    if len(power) < 2 or total <= 0:
        return 0.0  # a flat image: no detail at all
    cumulative = np.cumsum(whitened) / total
    return float(np.searchsorted(cumulative, DETAIL_SHARE) / (len(power) - 1))


def detail(luma: np.ndarray) -> tuple[float, float]:
    """(across, down): the detail along rows and along columns of a 2-D luma array, each 0..1 of Nyquist.

    An image smaller than :data:`MIN_SIDE` pixels along an axis gets 1.0 there (too few to tell).
    """
    luma = np.asarray(luma)
    height, width = luma.shape
    out = []
    for lines, side in ((luma, width), (luma.T, height)):
        if side < MIN_SIDE or lines.shape[0] < 1:
            out.append(1.0)
            continue
        pick = np.unique(np.linspace(0, lines.shape[0] - 1, min(SAMPLED_LINES, lines.shape[0])).astype(int))
        out.append(_axis_detail(lines[pick].astype(np.float64)))
    return out[0], out[1]


def noise_level(luma: np.ndarray) -> float:
    """An estimate of the standard deviation of the noise in ``luma`` (grey levels), by Immerkær's method
    ("Fast noise variance estimation", CVIU 64(2), 1996): the mean absolute response to the difference of
    two 3x3 Laplacians, which cancels a locally planar image and leaves the noise, times sqrt(pi/2) / 6.

    Edges and texture answer too, so the figure is comparable between copies of one picture, not between
    pictures: a copy with Gaussian noise added (sigma s) over its source's own (s0) shows about
    sqrt(s0^2 + s^2), well above the other copies, which share the source's.
    """
    luma = np.asarray(luma)
    h, w = luma.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    # The response on NOISE_ROWS rows spread over the picture (each with the rows above and below), not on
    # all of them: the mean of a few hundred thousand responses is as good an estimate, at a fraction of
    # the cost on a large picture.
    centres = np.unique(np.linspace(1, h - 2, min(NOISE_ROWS, h - 2)).round().astype(np.int64))
    above, y, below = (luma[centres + k].astype(np.float32) for k in (-1, 0, 1))
    response = (above[:, :-2] - 2 * above[:, 1:-1] + above[:, 2:]
                - 2 * y[:, :-2] + 4 * y[:, 1:-1] - 2 * y[:, 2:]
                + below[:, :-2] - 2 * below[:, 1:-1] + below[:, 2:])
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean(dtype=np.float64) / 6)
