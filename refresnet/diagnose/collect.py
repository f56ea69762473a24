"""The framework's run as {layer name: float64 array}: what ``compare`` accepts,
dispatched to the torch, Keras and ONNX Runtime collectors."""

from collections.abc import Mapping

import numpy as np

from .collect_keras import collect_keras
from .collect_onnx import collect_onnx, is_onnx_source
from .collect_torch import collect_torch


def _is_torch_module(obj):
    return hasattr(obj, "named_modules") and hasattr(obj, "register_forward_hook")


def _is_keras_model(obj):
    return hasattr(obj, "layers") and hasattr(obj, "get_layer") and hasattr(obj, "inputs")


def as_float64(value):
    """An activation from any framework as a float64 array: NumPy arrays of any
    float dtype (also ml_dtypes' bfloat16), torch tensors (also bfloat16), TF tensors."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        import torch

        value = value.detach().cpu().to(torch.float64).numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        try:
            return a.astype(np.float64)  # ml_dtypes bfloat16 and friends
        except (TypeError, ValueError):
            raise ValueError(f"expected a numeric array, got dtype {a.dtype}") from None
    return a.astype(np.float64)


def collect(theirs, x):
    """{layer name: array} from what ``compare`` accepts as the framework's run:
    a mapping is returned as is; a torch nn.Module or a Keras model is run on
    ``x`` and every layer's output collected."""
    if isinstance(theirs, Mapping):
        return theirs
    if is_onnx_source(theirs):
        return collect_onnx(theirs, x)
    if _is_torch_module(theirs):
        return collect_torch(theirs, x)
    if _is_keras_model(theirs):
        return collect_keras(theirs, x)
    raise TypeError(
        f"activations: expected a dict {{layer name: array}}, a torch nn.Module, a Keras model, "
        f"an .onnx path or an onnxruntime InferenceSession, got {type(theirs).__name__}"
    )
