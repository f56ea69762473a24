"""Every layer's output of a Keras model, for ``compare``."""

from collections import OrderedDict

import numpy as np


def collect_keras(model, x):
    """Every layer's output of Keras ``model`` on ``x`` (NHWC, already
    preprocessed), keyed by layer name as ``Model.trace`` names Keras layers.

    One multi-output functional model over the same layers runs ``x`` once
    (``training=False``: BN uses its moving statistics). ``x`` is cast to the
    model's input dtype, so a float32 model sees float32 values and a float64
    model (``keras.config.set_floatx("float64")`` before building) float64 ones.
    Works for Keras 3 and for tf_keras (Keras 2) models. Layers used more than
    once (no single output tensor) and nested models are left out: pass the
    ResNet model itself, not a wrapper around it."""
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras as keras  # a Keras 2 model cannot join a Keras 3 graph
    else:
        import keras

    inputs = list(model.inputs)
    if len(inputs) != 1:
        raise ValueError(f"Keras model {model.name!r}: expected one input, found {len(inputs)}")
    # Keras 3 gives the dtype as a string, tf_keras as a tf.DType.
    dtype = np.dtype(getattr(inputs[0].dtype, "name", inputs[0].dtype))
    want = tuple(inputs[0].shape)
    a = np.asarray(x)
    if a.ndim != len(want) or (want[-1] is not None and a.shape[-1] != want[-1]):
        raise ValueError(
            f"Keras model {model.name!r}: input x of shape {a.shape} does not fit the model's input "
            f"{want} (batch, height, width, channels); Keras models take NHWC"
        )
    layers, outputs = [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue  # called more than once, or never: no single output to report
        if isinstance(out, (list, tuple)):
            continue
        layers.append(layer)
        outputs.append(out)
    probe = keras.Model(inputs[0], outputs)  # one input tensor, not a list: the structure Keras expects
    outs = probe(np.ascontiguousarray(a, dtype=dtype), training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return OrderedDict((layer.name, _to_numpy(o)) for layer, o in zip(layers, outs))


def _to_numpy(t):
    """A framework tensor as a float64 NumPy array (TF eager tensors have
    .numpy(); a mixed_bfloat16 layer's output is an ml_dtypes bfloat16 array,
    which casts to float64 exactly)."""
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t).astype(np.float64)
