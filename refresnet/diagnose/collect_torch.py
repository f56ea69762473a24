"""Every named submodule's output of a torch module, for ``compare``."""

from collections import OrderedDict

import numpy as np


def collect_torch(module, x):
    """Every named submodule's outputs from running torch ``module`` on ``x``
    (NCHW), as float64 arrays, with forward hooks. ``x`` is cast to the
    module's parameter dtype (float32, float16 or bfloat16); run ``compare``
    inside ``torch.autocast(...)`` to collect an autocast run. Hooks: a module called k > 1 times gives ``name#0`` ...
    ``name#{k-1}`` and ``name`` = its last call, as ``Model.trace`` names them
    (torchvision reuses one ReLU per block)."""
    import torch

    calls = OrderedDict()
    handles = []

    def hook(name):
        def record(mod, inputs, output):
            if isinstance(output, torch.Tensor):
                # float64 before NumPy: torch's bfloat16 has no NumPy dtype, and
                # every error is measured in float64 anyway (exact for float16/bfloat16/float32).
                calls.setdefault(name, []).append(output.detach().cpu().to(torch.float64).numpy())
        return record

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name)))
    try:
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            module(torch.as_tensor(np.ascontiguousarray(x)).to(device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    out = OrderedDict()
    for name, outs in calls.items():
        if len(outs) > 1:
            for k, o in enumerate(outs):
                out[f"{name}#{k}"] = o
        out[name] = outs[-1]
    return out
