"""Readers of the weight files refresnet accepts. Each returns plain NumPy arrays;
none of them executes anything from a file."""

import os

from ..errors import LoadError


def require_file(path):
    """os.fspath(path) if it names an existing regular file, else LoadError saying what it is."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise LoadError(path, "no such file")
    if os.path.isdir(path):
        raise LoadError(path, "is a directory, not a weight file")
    return path
