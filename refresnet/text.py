"""Strings from files, made safe for a terminal.

Tensor names, labels from a config.json's id2label, ONNX producer names and op types,
image file names and paths all come from files someone else wrote. Printed raw, an
escape sequence in one sets the terminal's title, erases lines or moves the cursor,
a newline splits a one-line error, and a bidi override reorders what the reader sees.
On the errors floor (it imports nothing from refresnet), so every layer can use it.
"""


def printable(s):
    """``s`` (any object: str() of it) with every character that ``repr`` would escape
    written as ``repr`` writes it, every other character as it is.

    What is escaped is what ``str.isprintable`` calls non-printable (except the plain
    space): the C0 controls (ESC as ``\\x1b``, ``\\n``, ``\\r``, ``\\t``), DEL, the C1
    controls 0x80-0x9f (0x9b is a one-byte CSI), the bidi overrides and isolates
    (U+202A-U+202E, U+2066-U+2069) and the other format characters, line and paragraph
    separators, and the lone surrogates that ``os.fsdecode`` makes of undecodable
    bytes in file names (printing those would raise UnicodeEncodeError). Backslashes
    and every printable character, ASCII or not, are kept, so an ordinary name prints
    unchanged.
    """
    s = s if isinstance(s, str) else str(s)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in s)
