"""The parity check shared by test_parity_timm.py and test_parity_transformers.py:
refresnet against the float64 outputs timm / transformers recorded
(tests/fixtures/make_hub_fixtures.py), on every traced module."""

import functools
import json
import os

import numpy as np
import pytest

import refresnet
from refresnet.families.registry import arch_from_config
from fixtures import hub_fixture as hf
from fixtures import tv_fixture as tv
from fixtures.sketch import failures as layer_failures
from tolerances import NET_RTOL, rel_err


class _Npz(dict):
    @property
    def files(self):
        return list(self)


@functools.lru_cache(maxsize=1)
def fixture_and_model(key):
    path = hf.fixture_path(key)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate it with: {hf.REGEN_COMMAND} {key}", pytrace=False)
    with np.load(path) as z:
        fx = _Npz({k: z[k] for k in z.files})
    weights = tv.fixture_weights(fx)
    assert tv.weights_digest(weights) == str(fx["weights_sha256"]), f"{key}: regenerated weights differ; rerun {hf.REGEN_COMMAND} {key}"
    spec = json.loads(str(fx["spec_json"]))
    # No row named: the row a transformers config.json with this ResNetConfig gives.
    arch = spec["arch"] or arch_from_config(dict(spec["config"], model_type="resnet"), "config.json")
    return fx, refresnet.build(arch, weights)


def check_parity(key, prefix):
    fx, model = fixture_and_model(key)
    shape = tuple(int(s) for s in fx[f"{prefix}input_shape"])
    x = tv.image_batch(shape, int(fx[f"{prefix}input_seed"]))
    assert tv.digest([x]) == str(fx[f"{prefix}input_sha256"])
    logits = model(x)
    trace = model.trace(x)
    ref = tv.unstack_sketches(fx, prefix)
    failures = layer_failures(ref, trace, NET_RTOL)
    err = rel_err(logits, fx[f"{prefix}logits"])
    first = f"; first diverging layer: {failures[0]}" if failures else ""
    assert err <= NET_RTOL, f"{key} {shape}: logits relative error {err:.3g}{first}"
    missing = [n for n in ref if n not in trace]
    extra = [n for n in trace if n not in ref]
    assert not missing and not extra, f"{key}: trace names differ: missing {missing[:8]}, extra {extra[:8]}"
    assert list(trace) == list(ref), f"{key}: trace order differs from the library's hook order"
    assert not failures, f"{key}: {len(failures)} traced layers differ; first: {failures[0]}"
    # The modules inside timm's attention modules are not traced (SE and ECA are one
    # op each); they are exactly the children of the traced `se` modules.
    inner = [str(n) for n in fx.get(f"{prefix}inner_names", ()) if str(n)]  # absent: recorded before the field, no attention
    assert all(n.rsplit(".se.", 1)[0] + ".se" in trace for n in inner), inner[:4]
    return err
