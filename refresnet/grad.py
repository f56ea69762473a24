"""refresnet.grad: the float64 gradient of a classification loss, layer by layer.

``grad(model, x, labels)`` runs the model's graph forward keeping every
intermediate (batch norms on the batch's own statistics when ``train``), takes
the loss and its gradient at the logits (refresnet/runtime/losses.py), then
walks the nodes in reverse, each node's vector-Jacobian product from its op's
record (``backward``, beside the op's float64 function in
refresnet/runtime/ops/<op>.py), summing the gradients of an array that several
nodes read in reverse node order. It returns what a framework's autograd would
give for the same step: the loss, every trainable tensor's gradient by its
name in the weight file, the input's gradient and each traced layer's output
gradient.

Determinism: the walk runs on the calling thread with the BLAS held to one
thread and every product cut by shape alone (conv2d's backward uses the
forward's shape-fixed panels), so
the same call gives the same bits on 1 or N threads and across calls. An
image's share of a weight gradient, and any gradient of a training-mode batch
norm, depend on the rest of the batch by definition, so no promise is made
across batch compositions.
"""

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .families.registry import get_family
from .runtime import executor, losses, registry, threads
from .runtime.ops.batch_norm import batch_statistics
from .runtime.ops import batch_norm as _batch_norm

# The torch / Keras tensor name of each trainable keyword argument of a node,
# by op: {op: {kwarg: (torch suffix, keras suffix, layout)}} with layout the
# change from refresnet's internal array to the file's ("conv": (out, in, kh,
# kw) -> Keras (kh, kw, in, out); "dense": (out, in) -> Keras (in, out);
# "conv1d": (k,) -> torch Conv1d(1, 1, k)'s (1, 1, k), refresnet/build/params.py conv1d).
_TENSORS = {
    "conv2d": {"w": ("weight", "kernel", "conv"), "bias": ("bias", "bias", None)},
    "batch_norm": {"gamma": ("weight", "gamma", None), "beta": ("bias", "beta", None)},
    "linear": {"w": ("weight", "kernel", "dense"), "b": ("bias", "bias", None)},
    # timm's SE module: fc1, fc2 are 1x1 Conv2d with bias; ECA a bias-free Conv1d.
    "squeeze_excite": {"w1": ("fc1.weight", None, None), "b1": ("fc1.bias", None, None),
                       "w2": ("fc2.weight", None, None), "b2": ("fc2.bias", None, None)},
    "eca": {"w": ("conv.weight", None, "conv1d")},
}


class Gradients(NamedTuple):
    """What ``grad`` returns (see its docstring)."""

    loss: float
    params: dict
    input: np.ndarray
    activations: OrderedDict
    batch_stats: dict
    logits: np.ndarray


def _layer(node_name):
    # Keras's classifier is Dense(activation="softmax"): its logits are the
    # internal node "~{layer}.logits" (refresnet/build/graph.py).
    if node_name.startswith("~") and node_name.endswith(".logits"):
        return node_name[1:-len(".logits")]
    return node_name


def _tensor_name(node, kwarg, keras):
    torch_suffix, keras_suffix, layout = _TENSORS[node.op][kwarg]
    layer = _layer(node.name)
    if keras:
        if keras_suffix is None:
            raise ValueError(f"grad: op {node.op} of layer {layer} has no Keras tensor names")
        return f"{layer}/{keras_suffix}", layout
    return f"{layer}.{torch_suffix}", layout if layout == "conv1d" else None


def _to_file_layout(g, layout):
    if layout == "conv1d":
        return g.reshape(1, 1, -1)
    if layout == "conv":
        return np.ascontiguousarray(g.transpose(2, 3, 1, 0))
    if layout == "dense":
        return np.ascontiguousarray(g.T)
    return g


def _forward(nodes, x, train):
    """Every node's output, and the keyword arguments its backward needs (a
    training-mode batch norm's are its batch statistics), in node order."""
    env = {"input": x}
    used = {}
    stats = OrderedDict()
    for node in nodes:
        args = [env[s] for s in node.inputs]
        kwargs = node.kwargs
        try:
            if node.op == "batch_norm" and train:
                mean, var, unbiased = batch_statistics(args[0])
                stats[node.name] = (mean, var, unbiased)
                kwargs = dict(kwargs, mean=mean, var=var, training=True)
                y = _batch_norm(args[0], mean, var, kwargs["gamma"], kwargs["beta"], kwargs["eps"])
            else:
                y = executor.evaluate(node, args)
        except ValueError as err:
            raise executor.NodeError(node.name, err) from None
        env[node.name] = y
        used[node.name] = kwargs
    return env, used, stats


def _loss_node(model, loss):
    """The node whose output the loss takes as logits: the output node, or for
    a Keras softmax head the logits node before it (Keras 3's softmax output
    carries its logits and the loss uses them, refresnet/runtime/losses.py
    keras_sparse_categorical_crossentropy; torch's cross_entropy on those
    logits is the same function)."""
    out = model.program.output
    last = next(n for n in reversed(model.nodes) if n.name == out)
    if last.op == "softmax":
        return last.inputs[0]
    if loss == "sparse_categorical_crossentropy":
        raise ValueError(f"grad: loss 'sparse_categorical_crossentropy' needs a softmax output (Keras's default "
                         f"from_logits=False); {model.arch.name} outputs logits: use loss='cross_entropy'")
    return out


def grad(model, x, labels, loss="cross_entropy", reduction="mean", label_smoothing=0.0, train=True):
    """The float64 gradient of a classification loss for one training step of ``model``.

    Args:
        model: a refresnet.Model built from a row (torchvision, CIFAR, timm,
            transformers, Keras families); an ONNX graph is refused.
        x: the preprocessed batch the model takes (NCHW for torch families,
            NHWC for Keras).
        labels: (N,) integer class indices.
        loss: "cross_entropy" (torch.nn.functional.cross_entropy on the logits,
            with ``reduction`` "mean" or "sum" and ``label_smoothing``) or, for
            a Keras model ending in a softmax, "sparse_categorical_crossentropy"
            (keras.losses.SparseCategoricalCrossentropy() on that output, which
            Keras computes from the softmax's logits; its reduction is the mean,
            the same function as "cross_entropy" with the defaults). On a model
            ending in a softmax both take the logits before it.
        train: batch norms normalise with the batch's own mean and biased
            variance (torch ``module.train()``, Keras ``training=True``); False
            uses the running statistics (frozen BN).

    Returns a Gradients record:
        loss: the loss (float);
        params: {tensor name as ``inspect`` lists it: dL/d(tensor)} for every
            trainable tensor (conv kernels and biases, BN gamma and beta,
            linear weight and bias, SE/ECA weights), in the file's layout and
            shape; BN running statistics get none;
        input: dL/dx in the model's input layout;
        activations: {trace name: dL/d(that layer's output)} in the
            framework's layout; a name given to the same array as another (a
            torchvision container, a block's last ReLU) has that array's total
            gradient, as a hook on the tensor would see it; a Keras softmax
            output has none (the loss takes the logits it carries);
        batch_stats: with ``train``, {BN name: (batch mean, biased variance,
            unbiased variance)}, the values torch folds into the running
            statistics (Keras folds the biased one); else {};
        logits: the forward pass's logits.
    """
    if getattr(model, "_input_check", None) is not None:
        raise ValueError(f"grad: {model.arch.name} is a graph read from a file (ONNX); gradients need a model "
                         "built from a row of the architecture table (its batch norms are often folded into convs)")
    if loss not in losses.LOSSES:
        raise ValueError(f"grad: unknown loss {loss!r}; expected one of {', '.join(losses.LOSSES)}")
    if loss == "sparse_categorical_crossentropy" and (reduction != "mean" or label_smoothing):
        raise ValueError("grad: 'sparse_categorical_crossentropy' takes Keras's default reduction (the mean) "
                         f"and no label smoothing; got reduction={reduction!r}, label_smoothing={label_smoothing!r}")
    keras = get_family(model.arch.naming).keys.name == "keras"
    xi = model._to_internal(x)
    nodes = model.nodes
    logits_name = _loss_node(model, loss)
    with threads.single_threaded_blas():
        try:
            env, used, stats = _forward(nodes, xi, train)
        except executor.NodeError as err:
            raise ValueError(f"{model.arch.name}: {err} (input shape {model._external_shape(xi.shape)})") from None
        logits = env[logits_name]
        if loss == "cross_entropy":
            value, dlogits = losses.cross_entropy(logits, labels, reduction, label_smoothing)
        else:
            value, dlogits = losses.keras_sparse_categorical_crossentropy(logits, labels)
        grads = {logits_name: dlogits}
        # A name that is a second name for an array (alias) reports that array's
        # total gradient: follow aliases to the node that computed it.
        canon = {}
        for node in nodes:
            if node.op == "alias":
                canon[node.name] = canon.get(node.inputs[0], node.inputs[0])
        sources = set(canon.values())
        params = {}
        position = {n.name: k for k, n in enumerate(nodes)}
        for node in reversed(nodes[: position[logits_name] + 1]):
            dy = grads.get(node.name)
            if dy is None:
                continue  # not on the loss's path (a Keras softmax after its logits)
            fn = registry.get(node.op).backward
            if fn is None:
                raise ValueError(f"grad: op {node.op} (layer {node.name}) has no backward pass")
            args = [env[s] for s in node.inputs]
            # Every reader of this node's output came later in the forward
            # walk, so has been differentiated: the output can go, and an
            # internal node's gradient ("~", reported only under a second name) too.
            result = fn(dy, args, env.pop(node.name), **used[node.name])
            if node.name.startswith("~") and node.name not in sources:
                del grads[node.name]
            for src, g in zip(node.inputs, result[: len(node.inputs)]):
                grads[src] = g if src not in grads else grads[src] + g
            for kwarg, g in zip(registry.get(node.op).params, result[len(node.inputs):]):
                if g is None:
                    continue
                name, layout = _tensor_name(node, kwarg, keras)
                params[name] = _to_file_layout(g, layout)
    activations = OrderedDict()
    for node in nodes:
        if node.name.startswith("~"):
            continue
        src = canon.get(node.name, node.name)
        g = grads.get(src)
        if g is None:
            continue
        activations[node.name] = model._to_external(g)
    return Gradients(value, params, model._to_external(grads["input"]), activations, dict(stats),
                     model._to_external(logits))
