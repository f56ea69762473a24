"""``python -m refresnet predict|inspect ...``: see refresnet/cli.py."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
