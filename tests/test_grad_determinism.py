"""refresnet.grad is bitwise deterministic: the same call gives the same float64
bits on 1 or N threads and across calls.

What is promised (refresnet/grad.py): the forward and the reverse walk run on
the calling thread with the BLAS held to one thread, and every BLAS call's
bounds depend on the layers' shapes alone (the backward of each op (refresnet/runtime/ops/<op>.py) cuts
conv2d's products by the forward's fixed panels). What is not: an image's share
of a weight gradient, or any gradient through a training-mode BN, in another
batch composition (the batch is part of the function). As in
tests/test_determinism.py, the bits are compared raw and the invariant itself
is checked on the recorded BLAS calls, which holds on any CPU.
"""

import collections
import os
import subprocess
import sys

import numpy as np
import pytest

import refresnet
from refresnet.build.synthetic import synthetic_weights
from refresnet.runtime import blas, threads
from test_determinism import THREAD_VARS, assert_same_bits, refresnet_threads

HERE = os.path.dirname(os.path.abspath(__file__))
ARCH = "resnet18"
SHAPE = (3, 3, 40, 36)
LABELS = [1, 5, 9]


def _model():
    return refresnet.build(ARCH, synthetic_weights(ARCH, seed=9, num_classes=10))


def _input(seed=1):
    return np.random.default_rng(seed).normal(size=SHAPE)


def _flat(g):
    """Every array of a Gradients record, by a stable key."""
    out = {"loss": np.array(g.loss), "input": g.input, "logits": g.logits}
    out.update({f"param:{k}": v for k, v in g.params.items()})
    out.update({f"act:{k}": v for k, v in g.activations.items()})
    for k, (mean, var, unbiased) in g.batch_stats.items():
        out.update({f"bn:{k}:mean": mean, f"bn:{k}:var": var, f"bn:{k}:unbiased": unbiased})
    return out


def _assert_same(a, b, what):
    fa, fb = _flat(a), _flat(b)
    assert list(fa) == list(fb), what
    for k in fa:
        assert_same_bits(fa[k], fb[k], f"{what}: {k}")


@pytest.mark.parametrize("train", [True, False])
def test_repeated_calls_and_thread_settings_give_identical_bits(train):
    m, x = _model(), _input()
    first = refresnet.grad(m, x, LABELS, train=train)
    _assert_same(refresnet.grad(m, x.copy(), LABELS, train=train), first, "second call")
    for n in (1, 2, 3):
        with refresnet_threads(n):
            _assert_same(refresnet.grad(m, x, LABELS, train=train), first, f"{n} refresnet threads")


_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import refresnet
from refresnet.build.synthetic import synthetic_weights
from test_grad_determinism import _flat
m = refresnet.build({arch!r}, synthetic_weights({arch!r}, seed=9, num_classes=10))
g = refresnet.grad(m, np.random.default_rng(1).normal(size={shape!r}), {labels!r})
np.savez({path!r}, **_flat(g))
"""


def _child(tmp_path, tag, one_thread):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if one_thread:
        env.update({k: "1" for k in THREAD_VARS})
    path = str(tmp_path / f"{tag}.npz")
    code = _CHILD.format(tests=HERE, arch=ARCH, shape=SHAPE, labels=LABELS, path=path)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=os.path.dirname(HERE), capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"child process ({tag}) failed:\n{proc.stderr[-3000:]}"
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_one_thread_and_all_cores_give_identical_bits(tmp_path):
    single = _child(tmp_path, "one_thread", True)
    default = _child(tmp_path, "all_cores", False)
    here = _flat(refresnet.grad(_model(), _input(), LABELS))
    assert list(single) == list(default)
    for k in single:
        assert_same_bits(single[k], default[k], f"{k}: 1 thread vs {os.cpu_count()} cores")
        assert_same_bits(single[k], here[k], f"{k}: 1-thread subprocess vs this process")


def _calls(fn):
    with blas.recording() as calls:
        fn()
    return calls


def test_gemm_calls_are_fixed_by_the_shapes_alone():
    m = _model()
    x, other = _input(1), _input(2)
    with refresnet_threads(1):
        first = _calls(lambda: refresnet.grad(m, x, LABELS))
    assert len(first) > 100 and all(c.dtype == "float64" for c in first)
    for n in (2, 3):
        with refresnet_threads(n):
            assert _calls(lambda: refresnet.grad(m, x, LABELS)) == first, f"other GEMM calls on {n} threads"
    # Another batch of the same shape: the same calls in the same order, up to
    # the operands' contents (the bounds, shapes and strides depend on shapes).
    shape_only = [c[:6] for c in _calls(lambda: refresnet.grad(m, other, [0, 0, 0]))]
    assert shape_only == [c[:6] for c in first]


def test_backward_gemms_run_with_the_blas_held_to_one_thread():
    # blas.gemm raises if the BLAS is not held to one thread (where refresnet
    # can control it); the backward functions hold it themselves, so they can
    # be called alone.
    import backward_table as bw
    from refresnet.runtime.ops import conv2d

    assert not threads.single_threaded_blas().held
    x, w = _input()[:, :, :8, :8], np.random.default_rng(3).normal(size=(4, 3, 3, 3))
    y = conv2d(x, w, stride=2, padding=1)
    calls = _calls(lambda: bw.conv2d_backward(np.ones_like(y), (x,), y, w=w, stride=2, padding=1))
    assert len(calls) == 2 * x.shape[0]  # per image and panel: dw's and dx's product
