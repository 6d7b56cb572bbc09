"""The hash store: the ``HashSet`` value and its ``.npz`` file, one image to rows, and updating a store.

``hashset`` is the value and its file format (importing it loads numpy only, not Pillow or
numba); ``resolution`` says how small a reduced decode may be; ``hashing`` decodes an image once
and hashes its views with every algorithm, and updates a store (reuse, twins, checkpoints, resume)
on any executor of :mod:`finder.engine`.
"""
