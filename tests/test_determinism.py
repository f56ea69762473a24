"""refresnet is bitwise deterministic: the same image gives the same float64 bits
across repeated calls, batch compositions and thread counts.

torch's float64 CPU output is not batch-invariant (RESNET_FACTS.md, "Making
references"); refresnet promises it is, because each output element is summed in a
fixed order whatever the batch or the threads. Compared on the raw bits
(`.view(np.uint64)`), so even -0.0 vs 0.0 or a different NaN would fail.
"""

import functools
import os
import subprocess
import sys

import numpy as np
import pytest

import refresnet
from fixtures import tv_fixture as tv

HERE = os.path.dirname(os.path.abspath(__file__))
ARCHS = ["resnet18", "resnet50"]
SHAPE = (5, 3, 96, 80)  # small and non-square, to keep the test quick
# REFRESNET_NUM_THREADS=1 also turns off refresnet's own image-parallel path.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "REFRESNET_NUM_THREADS")


def bits(a):
    a = np.asarray(a)
    assert a.dtype == np.float64, a.dtype
    return np.ascontiguousarray(a).view(np.uint64)


def assert_same_bits(a, b, what):
    a, b = bits(a), bits(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    if not np.array_equal(a, b):
        n = int(np.count_nonzero(a != b))
        diff = float(np.max(np.abs(a.view(np.float64) - b.view(np.float64))))
        raise AssertionError(f"{what}: {n} of {a.size} values differ in their bits (max |diff| {diff:.3g})")


def weights(arch):
    """Seeded weights with the calibrated torchvision BN statistics of the parity fixture."""
    path = tv.fixture_path(arch)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate it with: {tv.REGEN_COMMAND} {arch}", pytrace=False)
    with np.load(path) as npz:
        return tv.fixture_weights(npz)


@functools.lru_cache(maxsize=None)
def model(arch):
    return refresnet.build(arch, weights(arch))


def inputs():
    return tv.image_batch(SHAPE, seed=5)


@pytest.mark.parametrize("arch", ARCHS)
def test_repeated_calls_give_identical_bits(arch):
    m, x = model(arch), inputs()
    first = m(x)
    assert_same_bits(m(x), first, f"{arch}: second call")
    assert_same_bits(m(x.copy()), first, f"{arch}: call on a copy of the input")
    t1, t2 = m.trace(x), m.trace(x)
    assert list(t1) == list(t2)
    for name in t1:
        assert_same_bits(t2[name], t1[name], f"{arch}: trace {name}")
    # The traced head is the same computation as the plain call.
    assert_same_bits(t1["fc"], first, f"{arch}: trace['fc'] vs model(x)")


@pytest.mark.parametrize("arch", ARCHS)
def test_an_image_gives_the_same_bits_alone_or_in_any_batch(arch):
    m, x = model(arch), inputs()
    batch5 = m(x)
    others = tv.image_batch((2,) + SHAPE[1:], seed=6)
    for i in range(SHAPE[0]):
        alone = m(x[i : i + 1])
        assert_same_bits(alone[0], batch5[i], f"{arch}: image {i} alone vs in the batch of 5")
        batch3 = m(np.stack([others[0], x[i], others[1]]))
        assert_same_bits(batch3[1], batch5[i], f"{arch}: image {i} in a batch of 3 vs in the batch of 5")
    # float32 input: converted to float64 exactly, so it must equal the float64 run of the same values.
    x32 = x.astype(np.float32)
    assert_same_bits(m(x32), m(x32.astype(np.float64)), f"{arch}: float32 input")


_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import refresnet
from fixtures import tv_fixture as tv
out = {{}}
for arch in {archs!r}:
    with np.load(tv.fixture_path(arch)) as npz:
        m = refresnet.build(arch, tv.fixture_weights(npz))
    out[arch] = m(tv.image_batch({shape!r}, seed=5))
np.savez({path!r}, **out)
"""


def run_child(tmp_path, tag, one_thread):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if one_thread:
        env.update({k: "1" for k in THREAD_VARS})
    path = str(tmp_path / f"{tag}.npz")
    code = _CHILD.format(tests=HERE, archs=ARCHS, shape=SHAPE, path=path)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=os.path.dirname(HERE), capture_output=True, text=True)
    assert proc.returncode == 0, f"child process ({tag}) failed:\n{proc.stderr[-3000:]}"
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def test_thread_count_does_not_change_a_bit(tmp_path):
    for arch in ARCHS:
        weights(arch)  # fail early, with the regeneration command, if a fixture is missing
    single = run_child(tmp_path, "one_thread", one_thread=True)
    default = run_child(tmp_path, "all_cores", one_thread=False)
    for arch in ARCHS:
        here = model(arch)(inputs())
        assert_same_bits(single[arch], default[arch], f"{arch}: 1 thread vs {os.cpu_count()} cores")
        assert_same_bits(single[arch], here, f"{arch}: 1-thread subprocess vs this process")


def test_refresnet_thread_setting_does_not_change_a_bit():
    from refresnet import threads

    weights_r18 = weights("resnet18")
    model = refresnet.build("resnet18", weights_r18)
    x = tv.image_batch(SHAPE, seed=11)
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        serial = model(x)
        threads.set_num_threads(3)
        parallel = model(x)
    finally:
        threads.set_num_threads(before)
    assert_same_bits(serial, parallel, "resnet18, 1 vs 3 refresnet threads")
