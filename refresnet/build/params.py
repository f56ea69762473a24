"""Taking a model's tensors out of a weight dict by name, checking each shape.

Each family states how a layer's tensors are keyed and laid out in the file (its
``KeyStyle``, refresnet/families/family.py); the builder asks for a layer by name
and gets float64 arrays in refresnet's internal layout (torch's: conv (out,
in/groups, kh, kw), linear (out, in)).
"""

import numpy as np

from ..errors import LoadError

# Tensors a file may hold that inference does not use.
IGNORED_SUFFIXES = (".num_batches_tracked",)


class Params:
    """Hands out a weight dict's tensors to the builder and remembers which were used.

    ``keys``: the family's ``KeyStyle`` (refresnet/families/family.py): torch's
    ({layer}.weight, {layer}.running_mean, ...) or Keras's ({layer}/kernel
    (kh, kw, in, out), {layer}/gamma, ...).
    """

    # Whether a tensor already float64 in refresnet's layout is copied (a caller's
    # dict keeps its own arrays) or shared (synthetic weights, made for the model).
    copy = True

    def __init__(self, weights, keys, path=None, consume=False):
        # consume: the dict is the loader's own; each tensor is taken out of it as
        # it is converted, so a file's float32 tensors are freed one by one while
        # the float64 ones are made (a ResNet-50 .pth then peaks at ~100 MB less).
        self.weights = weights
        self.consume = consume
        self.keys = keys
        self.path = path
        self.used = set()

    def _take(self, key, shape, convert=None):
        if key not in self.weights:
            raise LoadError(self.path, f"missing (expected shape {tuple(shape)})", tensor=key)
        raw = np.asarray(self.weights[key])
        if raw.dtype.kind != "f":
            raise LoadError(self.path, f"expected floating-point values, found dtype {raw.dtype}", tensor=key)
        arr = raw.astype(np.float64, copy=self.copy and not self.consume)
        if convert is not None and arr.ndim == len(shape):
            arr = convert(arr)
        if arr.shape != tuple(shape):
            found = raw.shape if convert is None else f"{raw.shape} (as stored)"
            raise LoadError(self.path, f"expected shape {tuple(shape)}, found {found}", tensor=key)
        self.used.add(key)
        if self.consume:
            del self.weights[key]
        return np.ascontiguousarray(arr)

    def conv(self, layer, out, cin, k, bias):
        """(weight (out, cin, k, k), bias (out,) or None)."""
        w = self._take(self.keys.key(layer, "weight"), (out, cin, k, k), self.keys.converter(4))
        b = self._take(self.keys.key(layer, "bias"), (out,)) if bias else None
        return w, b

    def conv1d(self, layer, k):
        """A bias-free 1-D conv kernel with one input and one output channel, as
        (k,): torch Conv1d(1, 1, k) stores (1, 1, k) (timm's ECA)."""
        return self._take(self.keys.key(layer, "weight"), (1, 1, k)).reshape(k)

    def bn(self, layer, channels):
        """(mean, var, gamma, beta), each (channels,)."""
        return tuple(self._take(self.keys.key(layer, role), (channels,)) for role in ("mean", "var", "gamma", "beta"))

    def dense(self, layer, cin):
        """(weight (classes, cin), bias (classes,)); the class count comes from the file."""
        key = self.keys.key(layer, "weight")
        if key not in self.weights:
            raise LoadError(self.path, f"missing (expected shape (classes, {cin}))", tensor=key)
        shape = np.shape(self.weights[key])
        if len(shape) != 2:
            raise LoadError(self.path, f"expected a 2-D weight, found shape {shape}", tensor=key)
        classes = self.keys.torch_shape(shape)[0]
        w = self._take(key, (classes, cin), self.keys.converter(2))
        b = self._take(self.keys.key(layer, "bias"), (classes,))
        return w, b

    def ignore(self, layer):
        """Mark a layer's tensors as deliberately unused (a classifier the caller left out)."""
        prefix = self.keys.prefix(layer)
        self.used.update(k for k in self.weights if k.startswith(prefix))

    def has(self, layer):
        prefix = self.keys.prefix(layer)
        return any(k.startswith(prefix) for k in self.weights)

    def unused(self):
        return sorted(k for k in self.weights if k not in self.used and not k.endswith(IGNORED_SUFFIXES))

    def check_all_used(self):
        extra = self.unused()
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            raise LoadError(
                self.path,
                f"unexpected tensor(s) for this architecture: {', '.join(extra[:5])}{more}",
                tensor=extra[0],
            )
