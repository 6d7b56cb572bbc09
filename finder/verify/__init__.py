"""Geometric verification: local features, geometry and visual words; pairs in, verified pairs out.

``features`` computes and caches ORB features; ``visualwords`` finds images that share many;
``geometry`` checks a pair for a consistent transform; ``verified`` takes the pairs matching
found and returns those verification keeps, plus the candidates beyond the threshold it confirms.
Needs the ``verify`` extra (OpenCV, SciPy).
"""
