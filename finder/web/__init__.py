"""``finder serve``: review groups in a browser, remember decisions, search by image, act through dedupe.

:mod:`finder.web.review` is the library (no web framework); :mod:`finder.web.app` the Starlette layer over it,
in the ``web`` extra (``pip install 'finder[web]'``).
"""
