"""Progress lines on stderr, with the time since the start of the run."""

import sys
import time

START = time.monotonic()


def say(*parts):
    print(f"[bench {time.monotonic() - START:6.1f}s]", *parts, file=sys.stderr, flush=True)
