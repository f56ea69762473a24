"""Exception types: one per kind of failure."""


class LoadError(ValueError):
    """A weight file cannot be used: missing, unreadable, hostile, or not a ResNet we know.

    The message names the file and, where there is one, the tensor or layer concerned,
    so that ``str(err)`` alone tells the user what to fix.
    """

    def __init__(self, path, reason, tensor=None):
        self.path = str(path) if path is not None else None
        self.tensor = tensor
        self.reason = reason
        where = self.path if self.path is not None else "<weights>"
        if tensor is not None:
            msg = f"{where}: tensor '{tensor}': {reason}"
        else:
            msg = f"{where}: {reason}"
        super().__init__(msg)


class ArchitectureError(ValueError):
    """An architecture name or description that refresnet does not support."""


class ResultsError(ValueError):
    """A results file (predict --out JSONL and its .npy store, or a framework's outputs
    given to agree) that cannot be used or resumed; the message names the file and line."""


class ArrayFileError(ValueError):
    """A .npy or .npz file given by the user (agree --framework, compare --input /
    --activations) that cannot be read safely: not a regular file, an archive whose
    sizes exceed the budget, a header that does not match its data, an object dtype.
    The message names the file and, for an .npz, the member."""

    def __init__(self, path, reason, member=None):
        self.path = str(path) if path is not None else None
        self.member = member
        self.reason = reason
        where = self.path if self.path is not None else "<array file>"
        super().__init__(f"{where}: member '{member}': {reason}" if member is not None else f"{where}: {reason}")


class MissingExtraError(ValueError):
    """An optional extra (dask, matplotlib) that the requested feature needs is not
    installed; the message says how to install it."""


class CLIError(ValueError):
    """A bad input found by the command line itself (message names the file)."""


class NodeError(Exception):
    """A node refused its inputs (a ValueError inside the op); carries its name."""

    def __init__(self, name, error):
        super().__init__(f"layer {name}: {error}")
        self.name = name
        self.error = error

class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
