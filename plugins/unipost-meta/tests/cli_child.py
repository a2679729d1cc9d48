"""Run the real ``unipost`` command on a virtual clock that starts at ``$UNIPOST_TEST_NOW``.

The credential tests start this as a subprocess, so a token "5 days from
expiry" is exact whatever the date, and the CLI is the one users run.
"""

from __future__ import annotations

import os
import sys

from unipost.cli import main
from unipost.clock import set_default_clock
from unipost.testing import VirtualClock

if __name__ == "__main__":
    start = float(os.environ["UNIPOST_TEST_NOW"])
    set_default_clock(lambda: VirtualClock(start))
    sys.exit(main(sys.argv[1:]))
