"""``python -m finder``: the same as the ``finder`` command.

Ctrl-C or SIGTERM while Python is still importing finder ends quietly
(130 or 143), like the same signal during a command.
"""

import signal
import sys


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(143)


signal.signal(signal.SIGTERM, _terminated)
try:
    from finder.cli import main

    main()
except KeyboardInterrupt:
    sys.exit(130)
