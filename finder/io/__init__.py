"""From command-line arguments to files: walking folders, decoding images, writing files safely.

``files`` turns paths into candidate image files with their identity; ``decode`` is the only
place that opens images (and catches Pillow's and the OS's errors); ``atomic`` writes a file by
temp file + rename; ``lock`` keeps two runs off one output; ``npzsafe`` reads ``.npz`` files
without pickle, checking every array before it is used.
"""

#: Camera RAW files by extension (decoded by :mod:`finder.io.raw` with the ``raw`` extra); here, without
#: Pillow, so that the keep rules can tell a RAW file by its name without importing it.
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
                            ".rw2", ".raf", ".pef", ".srw", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".x3f"})
