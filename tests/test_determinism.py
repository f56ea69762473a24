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


# One image runs on two lanes that split every layer by channels (refresnet/lanes.py):
# grouped convs, Keras's zero paddings, subsampling shortcuts, flatten and softmax,
# and the CIFAR option-A shortcut each take a different path through it.
LANE_ARCHS = ["resnext50_32x4d", "keras_resnet50v2", "keras_resnet50", "cifar_resnet20", "keras_cifar_resnet20"]


@pytest.mark.parametrize("arch", LANE_ARCHS)
def test_one_image_on_two_lanes_gives_the_one_thread_bits(arch, monkeypatch):
    from refresnet import lanes, threads
    from refresnet.synthetic import synthetic_weights

    if threads.blas_control() is None:
        pytest.skip("NumPy's BLAS thread count cannot be controlled here: the lanes are not used")
    m = refresnet.build(arch, synthetic_weights(arch, seed=3))
    cifar = "cifar" in arch
    hw = (32, 32) if cifar else (67, 75)
    shape = (1, 3) + hw if m.arch.layout == "NCHW" else (1,) + hw + (3,)
    x = np.random.default_rng(4).normal(size=shape)
    runs = []
    real_run = lanes.run
    monkeypatch.setattr(lanes, "run", lambda *a, **k: runs.append(k["lanes"]) or real_run(*a, **k))
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        serial = m(x)
        assert not runs
        threads.set_num_threads(2)
        split = m(x)
        threads.set_num_threads(3)  # shares of 16 channels: some lanes own nothing of narrow layers
        split3 = m(x)
        assert runs == [2, 3], "a single image with 2 or 3 threads should run on that many lanes"
        threads.set_num_threads(2)
        batch3 = m(np.concatenate([x[:, ::-1], x[:, ::-1], x]).copy())
        assert runs == [2, 3, 2], "the image left over from rounds of 2 should run on the lanes"
    finally:
        threads.set_num_threads(before)
    assert_same_bits(split, serial, f"{arch}: one image on two lanes vs one thread")
    assert_same_bits(split3, serial, f"{arch}: one image on three lanes vs one thread")
    assert_same_bits(batch3[2:], serial, f"{arch}: last of a batch of 3 (on lanes) vs one thread")
    # and the same as the image inside a batch (one image per thread)
    assert_same_bits(m(np.concatenate([x, x[:, ::-1].copy()]))[:1], serial, f"{arch}: in a batch of 2")


def test_an_input_too_small_on_two_lanes_names_the_layer():
    from refresnet import threads
    from refresnet.synthetic import synthetic_weights

    # The Keras CIFAR head is AveragePooling2D(8): a 16x16 image leaves it a 4x4 map.
    m = refresnet.build("keras_cifar_resnet20", synthetic_weights("keras_cifar_resnet20", seed=3))
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(2)
        with pytest.raises(ValueError, match=r"keras_cifar_resnet20: layer average_pooling2d: .*input shape \(1, 16, 16, 3\)"):
            m(np.zeros((1, 16, 16, 3)))
    finally:
        threads.set_num_threads(before)
