"""What every command shares: exit statuses and the one-line error on stderr."""

import sys

from ..text import printable

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _err(msg):
    """``msg`` on stderr as one line: the whole message escaped (refresnet.text.printable),
    so a file name with a newline or an escape sequence cannot split it or drive the
    terminal."""
    sys.stderr.write(f"refresnet: {printable(msg)}\n")
    sys.stderr.flush()


def say(text=""):
    """Print a report's text on stdout, each line escaped (refresnet.text.printable):
    layer, tensor and image names and labels come from files, and none of their
    control characters or escape sequences may reach the terminal. JSON output is
    printed with json.dumps instead, which escapes them itself."""
    print("\n".join(printable(line) for line in str(text).split("\n")), flush=True)


def _warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning for the command line: a warning (Pillow's decompression-bomb
    warning names the image file) is one escaped line like the errors, not Python's
    two raw lines."""
    _err(f"warning: {category.__name__}: {message}")
