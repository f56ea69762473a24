"""Deterministic seeded weights for any architecture, with realistic BN statistics.

For running the whole pipeline without a download (``synthetic:ARCH[:SEED]``) and
for checking the table's shapes. The values mean nothing; the BN statistics are
those of the network's own activations on a seeded image batch, so activations
stay O(1) at every depth, like a trained network's.
"""

import numpy as np

from ..families.archs import get_arch
from .params import Params
from ..families.registry import get_scheme


class _SyntheticParams(Params):
    """Params that create each requested tensor (in the file's layout) from a seed."""

    copy = False  # the generated arrays are the model's own

    def __init__(self, naming, seed, num_classes):
        super().__init__({}, get_scheme(naming).keys)
        self.naming = naming
        self.seed = seed
        self.num_classes = num_classes
        self.count = 0

    def _generate(self, key, file_shape):
        rng = np.random.default_rng([self.seed, self.count])
        self.count += 1
        leaf = key.replace("/", ".").rsplit(".", 1)[-1]
        if leaf in ("running_var", "moving_variance"):
            return np.ones(file_shape)
        if leaf in ("running_mean", "moving_mean"):
            return np.zeros(file_shape)
        if len(file_shape) == 4:
            # He-normal over fan-out, as torchvision initialises its convs.
            out_ch = file_shape[0] if self.torch_keys else file_shape[3]
            fan_out = out_ch * file_shape[-1 if self.torch_keys else 0] ** 2
            return rng.normal(0.0, np.sqrt(2.0 / fan_out), file_shape)
        if len(file_shape) == 3:
            # A 1-D conv kernel (timm's ECA, (1, 1, k)): He-normal over its k taps.
            return rng.normal(0.0, np.sqrt(2.0 / file_shape[-1]), file_shape)
        if len(file_shape) == 2:
            fan_in = file_shape[1] if self.torch_keys else file_shape[0]
            return rng.normal(0.0, 1.0 / np.sqrt(fan_in), file_shape)
        if leaf in ("weight", "gamma"):
            return rng.uniform(0.5, 1.5, file_shape)
        return rng.normal(0.0, 0.1, file_shape)

    def _take(self, key, shape, convert=None):
        if key not in self.weights:
            file_shape = tuple(shape)
            if convert is not None and len(shape) == 4:
                file_shape = (shape[2], shape[3], shape[1], shape[0])
            elif convert is not None and len(shape) == 2:
                file_shape = (shape[1], shape[0])
            self.weights[key] = self._generate(key, file_shape)
        return super()._take(key, shape, convert)

    def dense(self, layer, cin):
        key = f"{layer}.weight" if self.torch_keys else f"{layer}/kernel"
        if key not in self.weights:
            shape = (self.num_classes, cin) if self.torch_keys else (cin, self.num_classes)
            self.weights[key] = self._generate(key, shape)
        return super().dense(layer, cin)

    def has(self, layer):
        # Only the classifier is optional in a synthetic file; the CIFAR builder's
        # questions about checkpoint naming get the default answer (no).
        return self.num_classes is not None and layer in ("fc", "linear", "predictions", "fc1000", "dense", "classifier.1") and not (
            self.naming == "cifar" and layer == "fc"
        )


def synthetic_weights(arch, seed=0, num_classes=1000, calibrate=True, size=None):
    """A weight dict for `arch` in its own naming and layout (torchvision state_dict
    keys, or Keras "layer/kernel" ...), seeded; with ``calibrate`` each BN's
    mean/variance are the batch statistics of its input on a seeded batch of
    4 images of size x size, computed layer by layer in order (what a framework's
    train-mode pass with momentum None records)."""
    from . import graph

    row = get_arch(arch)
    if size is None:
        size = 32 if row.naming in ("cifar", "keras-cifar") else 64  # the CIFAR nets are made for 32x32
    params = _SyntheticParams(row.naming, seed, num_classes)
    nodes, info = graph._build_with(row, params, include_top=num_classes is not None)
    if calibrate:
        _calibrate(nodes, info["output"], params, row, seed, size)
    return params.weights


def _calibrate(nodes, output, params, row, seed, size):
    from ..runtime.executor import Program

    rng = np.random.default_rng([seed, 2**31])
    # Smooth image-like input in the scale of the family's preprocessing output.
    coarse = rng.normal(0.0, 1.0, (4, 3, size // 8 + 1, size // 8 + 1))
    x = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)[:, :, :size, :size]
    if row.naming in ("keras", "keras-old") and row.block == "bottleneck":
        x = x * 60.0  # caffe preprocessing: BGR minus the ImageNet mean, 0..255 scale
    sep = "." if params.torch_keys else "/"
    names = ("running_mean", "running_var") if params.torch_keys else ("moving_mean", "moving_variance")

    def set_statistics(node, args):
        # Before each BN runs: its statistics become those of its input batch.
        if node.op == "batch_norm":
            a = args[0]
            mean = a.mean(axis=(0, 2, 3))
            var = a.var(axis=(0, 2, 3))
            node.kwargs["mean"][:] = mean
            node.kwargs["var"][:] = var
            params.weights[f"{node.name}{sep}{names[0]}"][...] = mean
            params.weights[f"{node.name}{sep}{names[1]}"][...] = var

    Program(nodes, output).run(np.ascontiguousarray(x), hook=set_statistics)
