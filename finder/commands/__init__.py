"""Commands that live in modules of their own, added to the ``finder`` group in :mod:`finder.cli`.

Each module imports only click (and finder.cli's shared options) at top level;
everything heavy is imported inside the command, so ``finder --help`` stays instant.
"""
