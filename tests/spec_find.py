"""FINd written out in plain Python straight from FIND_SPEC.md, for the tests.

Deliberately naive and differently shaped from finder's kernel: it blurs every
pixel, then decimates, and uses Python floats and lists only.  Slow; use on
small images.
"""

from __future__ import annotations

import math


def spec_find_bits(rgb: list[list[tuple[int, int, int]]]) -> list[bool]:
    """The 256 FINd bits of an RGB image given as rows of (r, g, b), already thumbnailed."""
    h, w = len(rgb), len(rgb[0])
    y = [(0.299 * r + 0.587 * g) + 0.114 * b for row in rgb for (r, g, b) in row]
    win_x, win_y = math.ceil(w / 64), math.ceil(h / 64)
    half_x, half_y = math.floor((win_x + 2) / 2), math.floor((win_y + 2) / 2)
    blurred = [0.0] * (w * h)
    for row in range(h):
        y0, y1 = max(0, row - half_y), min(h, row + half_y)
        for col in range(w):
            x0, x1 = max(0, col - half_x), min(w, col + half_x)
            s = 0.0
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    s += y[yy * w + xx]
            blurred[row * w + col] = s / ((y1 - y0) * (x1 - x0))
    a = [[blurred[math.floor(((i + 0.5) * h) / 64) * w + math.floor(((j + 0.5) * w) / 64)] for j in range(64)]
         for i in range(64)]
    d = [[math.cos(((math.pi / 2 / 64) * (i + 1)) * (2 * j + 1)) for j in range(64)] for i in range(16)]
    t = [[0.0] * 64 for _ in range(16)]
    for i in range(16):
        for j in range(64):
            s = 0.0
            for k in range(64):
                s += d[i][k] * a[k][j]
            t[i][j] = s
    b = [[0.0] * 16 for _ in range(16)]
    for i in range(16):
        for j in range(16):
            s = 0.0
            for k in range(64):
                s += t[i][k] * d[j][k]
            b[i][j] = s
    median = sorted(v for r in b for v in r)[127]
    grid = [[False] * 16 for _ in range(16)]
    for i in range(16):
        for j in range(16):
            grid[15 - i][15 - j] = b[i][j] > median
    return [bit for r in grid for bit in r]
