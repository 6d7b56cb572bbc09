"""Whether a CUDA GPU is here, through numba-cuda (the ``gpu`` extra): one check for every GPU backend.

``available()`` is true where numba-cuda is installed and finds a device, or runs Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported: slow, every thread is Python; how the tests run
the GPU code on machines without one).  ``require()`` returns ``numba.cuda`` or raises :class:`NoGPUError`,
one line saying why.
"""

from __future__ import annotations

from typing import Any

from finder.errors import FinderError


class NoGPUError(FinderError):
    """GPU work was asked for where no CUDA GPU (or simulator) is available."""


def available() -> bool:
    """Whether numba-cuda is installed and sees a GPU (or runs its simulator)."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver says "no GPU" as an exception
        return False


def require() -> Any:
    """``numba.cuda`` where a GPU (or the simulator) is there; :class:`NoGPUError` saying why otherwise."""
    try:
        from numba import cuda
    except ImportError:
        raise NoGPUError("--device cuda needs numba-cuda: pip install 'finder[gpu]'") from None
    if not available():
        raise NoGPUError("--device cuda: no CUDA GPU here (numba-cuda finds no device or driver); "
                         "run without --device, or set NUMBA_ENABLE_CUDASIM=1 to try the simulator")
    return cuda
