"""The model object: a built graph that runs in float64 and can show every layer."""

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .graph import build_graph
from .plan import build_plan
from . import lanes, threads
from .archs import get_arch


# Up to this many threads one image runs on lanes; beyond, OpenBLAS's own threads
# share each GEMM (lanes were measured on 2 cores only; thin per-lane GEMMs and
# Python dispatch on many lanes are untested for speed).
MAX_LANES = 4


class Model:
    """A ResNet from the architecture table with its weights, computing in float64.

    ``model(x)`` takes what the source framework's model takes (torchvision: NCHW;
    Keras: NHWC, already preprocessed) and returns what it returns (torchvision:
    logits; Keras: softmax probabilities with the top, else the feature map or the
    pooled features). ``model.trace(x)`` returns every named layer's output.
    """

    def __init__(self, arch, weights, include_top=None, pooling=None, path=None, source=None):
        self.arch = get_arch(arch)
        self.path = path
        self.source = source  # e.g. "torch zip", "keras .weights.h5"
        self.nodes, info = build_graph(self.arch, weights, include_top=include_top, pooling=pooling, path=path)
        self.include_top = info["include_top"]
        self.pooling = info["pooling"]
        self.num_classes = info["num_classes"]
        self._output = info["output"]
        self._plan, self._plan_output = build_plan(self.nodes, self._output)

    # ------------------------------------------------------------ running

    def _to_internal(self, x):
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

    def _run_node(self, fn, args, kwargs, name, shape):
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            raise ValueError(f"{self.arch.name}: layer {name}: {err} (input shape {tuple(shape)})") from None

    def _forward(self, xi):
        """The plan on an internal-layout (NCHW float64) batch."""
        # Errors quote the input's shape as the caller gave it (NHWC for Keras).
        shape = xi.shape if self.arch.layout == "NCHW" else (xi.shape[0],) + xi.shape[2:] + (xi.shape[1],)
        env = {"input": xi}
        for step in self._plan:
            env[step.name] = self._run_node(step.fn, [env[s] for s in step.inputs], step.kwargs, step.name, shape)
            for src in step.frees:
                del env[src]
        return env[self._plan_output]

    def __call__(self, x):
        xi = self._to_internal(x)
        n, workers = xi.shape[0], threads.get_num_threads()
        if workers < 2 or threads.blas_control() is None or (n == 1 and workers > MAX_LANES):
            # One thread; or one image on a big machine, where OpenBLAS's own
            # threads share each GEMM.
            return self._to_external(self._forward(xi))
        # One image per thread (each image's bits are those of the image alone),
        # except an image that would run alone in the last round: it runs on lanes
        # that split every layer by channels (lanes.py), with the same bits.
        alone = workers <= MAX_LANES and n % workers == 1
        parts = []
        with threads.single_threaded_blas():
            if n > 1:
                with ThreadPoolExecutor(min(workers, n)) as pool:
                    parts += pool.map(lambda i: self._forward(xi[i : i + 1]), range(n - alone))
            if alone:
                parts.append(self._on_lanes(xi[n - 1 :], workers))
        return self._to_external(parts[0] if n == 1 else np.concatenate(parts))

    def _on_lanes(self, image, n_lanes):
        try:
            return lanes.run(self._plan, image, self._plan_output, lanes=n_lanes)
        except ValueError:
            # An input the network refuses: the one-thread plan says which layer.
            return self._forward(image)

    def trace(self, x):
        """OrderedDict {framework layer name: output} in execution order, in the
        framework's layout (NCHW for torchvision, NHWC for Keras) and shapes.
        Names that torchvision uses for a module called several times (each
        block's ``relu``) hold the last call's output, and ``name#k`` each call's."""
        env = {"input": self._to_internal(x)}
        traced = OrderedDict()
        for node in self.nodes:
            if node.fn is None:
                env[node.name] = env[node.inputs[0]]
            else:
                env[node.name] = self._run_node(node.fn, [env[s] for s in node.inputs], node.kwargs, node.name, np.shape(x))
            if not node.name.startswith("~"):
                traced[node.name] = env[node.name]
        return OrderedDict((k, self._to_external(v)) for k, v in traced.items())

    # ------------------------------------------------------------ describing
    def layer_names(self):
        return [n.name for n in self.nodes if not n.name.startswith("~")]

    def parameter_count(self, bn_statistics=None):
        """Number of weights, counted as the source framework counts them:
        torchvision's sum of parameters() leaves out the BN running statistics,
        Keras's count_params() includes the moving statistics. ``bn_statistics``
        overrides that choice."""
        if bn_statistics is None:
            bn_statistics = self.arch.framework == "keras"
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
