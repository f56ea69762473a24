"""What every command shares: exit statuses and the one-line error on stderr."""

import sys

EXIT_OK = 0


EXIT_BAD_INPUT = 2


def _err(msg):
    sys.stderr.write(f"refresnet: {msg}\n")
    sys.stderr.flush()
