"""The model object: a built graph that runs in float64 and can show every layer."""

from collections import OrderedDict

import numpy as np

from .errors import NodeError
from .runtime import executor, threads
from .runtime.precision import STORAGE, check_precision, round_to
from .families.archs import get_arch
from .families.registry import family_of_row
from .build.graph import build_graph


class Model:
    """A ResNet from the architecture table with its weights, computing in float64.

    ``model(x)`` takes what the source framework's model takes (torchvision: NCHW;
    Keras: NHWC, already preprocessed) and returns what it returns (torchvision:
    logits; Keras: softmax probabilities with the top, else the feature map or the
    pooled features). ``model.trace(x)`` returns every named layer's output.
    Both run on refresnet's one interpreter (refresnet/runtime/executor.py) and give the
    same bits for an image alone or in any batch, on any number of threads.
    """

    _input_check = None  # from_program: the graph's own check of the input (no layout change)

    def __init__(self, arch, weights, include_top=None, pooling=None, path=None, source=None, consume=False):
        self.arch = get_arch(arch)
        self.path = path
        self.source = source  # e.g. "torch zip", "keras .weights.h5"
        # consume: ``weights`` is the loader's own dict; its tensors are taken out
        # of it while the graph is built (refresnet/build/params.py).
        nodes, info = build_graph(self.arch, weights, include_top=include_top, pooling=pooling, path=path,
                                  consume=consume)
        self.include_top = info["include_top"]
        self.pooling = info["pooling"]
        self.num_classes = info["num_classes"]
        self.program = executor.Program(nodes, info["output"])

    @classmethod
    def from_program(cls, program, arch, *, input_check, path=None, source=None, include_top=True,
                     num_classes=None):
        """A Model that runs ``program`` (an executor.Program read from a file,
        e.g. an ONNX graph: refresnet.load.load_onnx) instead of a row's graph.
        ``arch`` describes it (name, framework, layout, describe()); its values
        are the program's own, so nothing is transposed (layout is neither NCHW
        nor NHWC); ``input_check(x)`` turns the caller's array into the
        program's input or raises ValueError naming what is wrong."""
        self = cls.__new__(cls)
        self.arch, self.path, self.source = arch, path, source
        self.include_top, self.pooling, self.num_classes = include_top, None, num_classes
        self.program = program
        self._input_check = input_check
        return self

    @property
    def nodes(self):
        return self.program.nodes

    # ------------------------------------------------------------ running

    def _to_internal(self, x):
        if self._input_check is not None:
            return self._input_check(x)
        a = np.asarray(x)
        if a.dtype.kind not in "fiub":
            raise ValueError(f"input: expected a numeric array, got dtype {a.dtype}")
        if a.ndim == 3:
            raise ValueError(
                f"input: expected a batch ({'N, C, H, W' if self.arch.layout == 'NCHW' else 'N, H, W, C'}), "
                f"got shape {a.shape}; add a batch axis with x[None]"
            )
        if a.ndim != 4:
            raise ValueError(f"input: expected a 4-D {self.arch.layout} batch, got shape {a.shape}")
        if self.arch.layout == "NHWC":
            a = a.transpose(0, 3, 1, 2)
        if a.shape[1] != 3:
            raise ValueError(f"input: expected 3 channels in {self.arch.layout} layout, got shape {np.shape(x)}")
        return np.ascontiguousarray(a, dtype=np.float64)

    def _to_external(self, a):
        if self.arch.layout == "NHWC" and a.ndim == 4:
            return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        return a

    def _external_shape(self, shape):
        if self.arch.layout == "NHWC" and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return tuple(shape)

    def run(self, xi, **walk):
        """``Program.run`` on an internal (NCHW float64) batch, on refresnet's
        threads; a layer that refuses its input is named in the ValueError,
        with the input's shape as the caller gave it (NHWC for Keras)."""
        given = walk.pop("given", None)

        def images(lo, hi, team):
            mine = None if given is None else {k: v[lo:hi] for k, v in given.items()}
            return self.program.run(xi[lo:hi], team=team, given=mine, **walk)

        try:
            return self.program.on_threads(xi.shape[0], threads.usable_threads(), images)
        except NodeError as err:
            raise ValueError(f"{self.arch.name}: {err} (input shape {self._external_shape(xi.shape)})") from None

    def __call__(self, x):
        return self._to_external(self.run(self._to_internal(x), fused=True))

    def trace(self, x, precision=None):
        """OrderedDict {framework layer name: output} in execution order, in the
        framework's layout (NCHW for torchvision, NHWC for Keras) and shapes.
        Names that torchvision uses for a module called several times (each
        block's ``relu``) hold the last call's output, and ``name#k`` each call's.
        ``precision``: emulate float32, tf32, bfloat16 or float16
        (refresnet/runtime/precision.py) instead of computing in float64."""
        xi = self._to_internal(x)
        if precision is not None:
            xi = round_to(xi, STORAGE[check_precision(precision)])
        # Internal nodes ("~" names, such as the add before a block's ReLU) are
        # freed as the walk goes, like any intermediate of the plain call.
        keep = {n.name for n in self.nodes if not n.name.startswith("~")}
        traced = self.run(xi, keep=keep, precision=precision)
        # One layer at a time, so that an NHWC model never holds its trace twice.
        return OrderedDict((k, self._to_external(traced.pop(k))) for k in list(traced))

    # ------------------------------------------------------------ describing
    def layer_names(self):
        return [n.name for n in self.nodes if not n.name.startswith("~")]

    def parameter_count(self, bn_statistics=None):
        """Number of weights, counted as the source framework counts them:
        torchvision's sum of parameters() leaves out the BN running statistics,
        Keras's count_params() includes the moving statistics. ``bn_statistics``
        overrides that choice."""
        if bn_statistics is None:
            family = family_of_row(self.arch)  # None for a graph read from a file (ONNX)
            bn_statistics = family is not None and family.counts_bn_statistics
        kinds = ("w", "bias", "b", "gamma", "beta") + (("mean", "var") if bn_statistics else ())
        return sum(
            v.size for node in self.nodes for k, v in node.kwargs.items() if k in kinds and isinstance(v, np.ndarray)
        )

    def __repr__(self):
        head = "top" if self.include_top else f"no top, pooling={self.pooling}"
        classes = f", {self.num_classes} classes" if self.num_classes else ""
        src = f", from {self.path}" if self.path else ""
        return f"<refresnet.Model {self.arch.name} ({head}{classes}){src}: {self.arch.describe()}>"


def build(arch, weights, include_top=None, pooling=None):
    """A Model of `arch` (a name from refresnet.ARCHS) from a weight dict in that
    architecture's naming (torchvision state_dict keys; Keras "layer/kernel" ...)."""
    return Model(arch, weights, include_top=include_top, pooling=pooling)
