"""From pairs to groups of files, and which copy of each group to keep.

``linkage`` (single or star) turns pairs into groups; ``build`` is the one path from a hash file's
rules to groups that ``cluster`` and ``report`` share (search, optional verification, linkage);
``keep`` chooses each group's keeper from ``facts`` read from image headers.
"""
