"""``python -m skae``: see :mod:`skae._cli`."""

import sys

from ._cli import run

if __name__ == "__main__":
    sys.exit(run())
