"""Which row of the architecture table a weight dict belongs to, from names and shapes.

The family whose detection rule accepts the names (refresnet/families/registry.py,
``detect``) says what they tell about the row (``candidates``: field values, tried
in order); the first of that family's rows with those values is the answer.
"""

from ..errors import LoadError
from .registry import family_of, get_family


def _match(path, naming, **want):
    rows = get_family(naming).rows
    for arch in rows:
        if all(getattr(arch, k) == v for k, v in want.items()):
            return arch
    found = ", ".join(f"{k}={v}" for k, v in want.items())
    known = ", ".join(a.name for a in rows)
    raise LoadError(path, f"not a ResNet refresnet knows ({found}); known {naming} architectures: {known}")


def detect_arch(weights, path=None):
    """The Arch row for a weight dict, or LoadError saying what was found instead."""
    family = family_of(weights)
    if family is None:
        sample = ", ".join(sorted(weights)[:5]) or "no tensors at all"
        raise LoadError(
            path,
            "not a ResNet weight file: found neither torchvision names (conv1.weight, layer1.0.conv1.weight) "
            f"nor Keras names (conv1_conv, conv2_block1_1_conv, res2a_branch2a); first names: {sample}",
        )
    first = None
    for naming, want in family.candidates(weights, path):
        try:
            return _match(path, naming, **want)
        except LoadError as err:
            first = first or err
    raise first
