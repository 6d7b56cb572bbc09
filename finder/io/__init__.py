"""From command-line arguments to files: walking folders, decoding images, writing files safely.

``files`` turns paths into candidate image files with their identity; ``decode`` is the only
place that opens images (and catches Pillow's and the OS's errors); ``atomic`` writes a file by
temp file + rename; ``lock`` keeps two runs off one output; ``npzsafe`` reads ``.npz`` files
without pickle, checking every array before it is used.
"""
