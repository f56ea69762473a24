"""Deterministic seeded weights for any architecture, with realistic BN statistics.

For running the whole pipeline without a download (``synthetic:ARCH[:SEED]``) and
for checking the table's shapes. The values mean nothing; the BN statistics are
those of the network's own activations on a seeded image batch, so activations
stay O(1) at every depth, like a trained network's.
"""

import numpy as np

from ..families.archs import get_arch
from ..families.registry import get_family
from ..runtime.executor import Program
from .graph import build_with
from .params import Params


class _SyntheticParams(Params):
    """Params that create each requested tensor (in the file's layout) from a seed."""

    copy = False  # the generated arrays are the model's own

    def __init__(self, family, seed, num_classes):
        super().__init__({}, family.keys)
        self.classifier = family.head["fc"]
        self.seed = seed
        self.num_classes = num_classes
        self.count = 0

    def _generate(self, key, file_shape):
        rng = np.random.default_rng([self.seed, self.count])
        self.count += 1
        leaf = key.replace("/", ".").rsplit(".", 1)[-1]
        if leaf == self.keys.leaves["var"]:
            return np.ones(file_shape)
        if leaf == self.keys.leaves["mean"]:
            return np.zeros(file_shape)
        shape = self.keys.torch_shape(file_shape)  # the values are drawn in the file's layout, fans from torch's
        if len(file_shape) == 4:
            # He-normal over fan-out, as torchvision initialises its convs.
            fan_out = shape[0] * shape[3] ** 2
            return rng.normal(0.0, np.sqrt(2.0 / fan_out), file_shape)
        if len(file_shape) == 3:
            # A 1-D conv kernel (timm's ECA, (1, 1, k)): He-normal over its k taps.
            return rng.normal(0.0, np.sqrt(2.0 / file_shape[-1]), file_shape)
        if len(file_shape) == 2:
            return rng.normal(0.0, 1.0 / np.sqrt(shape[1]), file_shape)
        if leaf in ("weight", "gamma"):
            return rng.uniform(0.5, 1.5, file_shape)
        return rng.normal(0.0, 0.1, file_shape)

    def _take(self, key, shape, convert=None):
        if key not in self.weights:
            self.weights[key] = self._generate(key, self.keys.file_shape(shape))
        return super()._take(key, shape, convert)

    def dense(self, layer, cin):
        key = self.keys.key(layer, "weight")
        if key not in self.weights:
            self.weights[key] = self._generate(key, self.keys.file_shape((self.num_classes, cin)))
        return super().dense(layer, cin)

    def has(self, layer):
        # Only the classifier is optional in a synthetic file; the naming hooks'
        # questions about a checkpoint's own names get the default answer (no).
        return self.num_classes is not None and layer == self.classifier


def synthetic_weights(arch, seed=0, num_classes=1000, calibrate=True, size=None):
    """A weight dict for `arch` in its own naming and layout (torchvision state_dict
    keys, or Keras "layer/kernel" ...), seeded; with ``calibrate`` each BN's
    mean/variance are the batch statistics of its input on a seeded batch of
    4 images of size x size (default: the family's ``synthetic_size``), computed
    layer by layer in order (what a framework's train-mode pass with momentum
    None records)."""
    row = get_arch(arch)
    family = get_family(row.naming)
    if size is None:
        size = family.synthetic_size  # the CIFAR nets are made for 32x32
    params = _SyntheticParams(family, seed, num_classes)
    nodes, info = build_with(row, params, include_top=num_classes is not None)
    if calibrate:
        _calibrate(nodes, info["output"], params, seed, size, family.synthetic_input_scale(row))
    return params.weights


def _calibrate(nodes, output, params, seed, size, scale):
    rng = np.random.default_rng([seed, 2**31])
    # Smooth image-like input in the scale of the family's preprocessing output.
    coarse = rng.normal(0.0, 1.0, (4, 3, size // 8 + 1, size // 8 + 1))
    x = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)[:, :, :size, :size]
    if scale != 1.0:
        x = x * scale

    def set_statistics(node, args):
        # Before each BN runs: its statistics become those of its input batch.
        if node.op == "batch_norm":
            a = args[0]
            mean = a.mean(axis=(0, 2, 3))
            var = a.var(axis=(0, 2, 3))
            node.kwargs["mean"][:] = mean
            node.kwargs["var"][:] = var
            params.weights[params.keys.key(node.name, "mean")][...] = mean
            params.weights[params.keys.key(node.name, "var")][...] = var

    Program(nodes, output).run(np.ascontiguousarray(x), hook=set_statistics)
