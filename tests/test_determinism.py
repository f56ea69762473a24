"""refresnet is bitwise deterministic: the same image gives the same float64 bits
across repeated calls, batch compositions and thread counts.

torch's float64 CPU output is not batch-invariant (docs/FACTS.md §4); refresnet
promises it is, because every path makes the same floating-point operations for an
image (refresnet/runtime/executor.py): the tests at the end check that invariant itself, on
the BLAS calls, so that they hold on any CPU. Compared on the raw bits
(`.view(np.uint64)`), so even -0.0 vs 0.0 or a different NaN would fail.
"""

import collections
import contextlib
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
    from refresnet.runtime import threads

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


# A single image (or the one left over from rounds of one image per thread) is
# shared by all the threads (refresnet/runtime/executor.py Team): grouped convs, Keras's
# zero paddings, subsampling shortcuts, flatten and softmax, and the CIFAR
# option-A shortcut each take a different path through it.
TEAM_ARCHS = ["resnext50_32x4d", "keras_resnet50v2", "keras_resnet50", "cifar_resnet20", "keras_cifar_resnet20"]
THREAD_COUNTS = (1, 2, 3, 4, 8, 64)  # 64: the README says "on 1 or 64 threads"


@contextlib.contextmanager
def refresnet_threads(n):
    from refresnet.runtime import threads

    before = threads.get_num_threads()
    threads.set_num_threads(n)
    try:
        yield
    finally:
        threads.set_num_threads(before)


def _synthetic_case(arch, batch=1):
    from refresnet.build.synthetic import synthetic_weights

    m = refresnet.build(arch, synthetic_weights(arch, seed=3))
    hw = (32, 32) if "cifar" in arch else (67, 75)
    shape = (batch, 3) + hw if m.arch.layout == "NCHW" else (batch,) + hw + (3,)
    return m, np.random.default_rng(4).normal(size=shape)


@pytest.mark.parametrize("arch", TEAM_ARCHS)
def test_one_image_gives_the_same_bits_on_any_number_of_threads(arch):
    m, x = _synthetic_case(arch)
    with refresnet_threads(1):
        serial = m(x)
    for n in THREAD_COUNTS[1:]:
        with refresnet_threads(n):
            assert_same_bits(m(x), serial, f"{arch}: one image on {n} threads vs one thread")
    with refresnet_threads(2):
        batch3 = m(np.concatenate([x[:, ::-1], x[:, ::-1], x]).copy())
        assert_same_bits(batch3[2:], serial, f"{arch}: last of a batch of 3 (shared by 2 threads) vs one thread")
        assert_same_bits(m(np.concatenate([x, x[:, ::-1].copy()]))[:1], serial, f"{arch}: in a batch of 2")


def test_an_input_too_small_on_two_threads_names_the_layer():
    from refresnet.build.synthetic import synthetic_weights

    # The Keras CIFAR head is AveragePooling2D(8): a 16x16 image leaves it a 4x4 map.
    m = refresnet.build("keras_cifar_resnet20", synthetic_weights("keras_cifar_resnet20", seed=3))
    with refresnet_threads(2):
        with pytest.raises(ValueError, match=r"keras_cifar_resnet20: layer average_pooling2d: .*input shape \(1, 16, 16, 3\)"):
            m(np.zeros((1, 16, 16, 3)))


# ---------------------------------------------------------------- the invariant itself
# The bit-for-bit tests above pass on the CPU they run on. The property that makes
# them pass on every CPU is that every path makes the same BLAS calls for an image:
# the same operand shapes, strides and contents (refresnet/runtime/blas.py records them).
# These tests check that directly, so they hold whatever the BLAS computes.

def _calls(fn):
    from refresnet.runtime import blas

    with blas.recording() as calls:
        fn()
    return collections.Counter(calls)


def test_gemm_calls_for_an_image_are_the_same_alone_in_a_batch_and_on_any_threads():
    m, x = model("resnet18"), tv.image_batch((5, 3, 40, 36), seed=8)
    alone = _calls_of_images(m, x)
    assert sum(alone.values()) > 5 * 20, "resnet18 makes at least 20 GEMM calls per image"
    assert all(c.dtype == "float64" for c in alone)
    first = _calls_of_image(m, x[:1])
    for n in THREAD_COUNTS:
        with refresnet_threads(n):
            assert _calls(lambda: m(x)) == alone, f"batch of 5 on {n} threads: other GEMM calls than each image alone"
            assert _calls(lambda: m(x[:1])) == first, f"image 0 alone on {n} threads vs one thread"
            assert _calls(lambda: m(x[1:4])) == alone - _calls_of_images(m, x[[0, 4]]), f"batch of 3 on {n} threads"


def _calls_of_image(m, image):
    with refresnet_threads(1):
        return _calls(lambda: m(image))


def _calls_of_images(m, images):
    total = collections.Counter()
    for i in range(images.shape[0]):
        total += _calls_of_image(m, images[i : i + 1])
    return total


@pytest.mark.parametrize("arch", ["resnet18", "keras_resnet50v2"])
def test_gemm_calls_are_the_same_in_call_trace_and_compare(arch):
    from refresnet.diagnose import compare as comparison

    m, x = _synthetic_case(arch, batch=2)
    call = _calls_of_images(m, x)
    with refresnet_threads(2):
        assert _calls(lambda: m.trace(x)) == call, f"{arch}: trace makes other GEMM calls than the call"
        own = m.trace(x)
        # compare's float64 walks (the oracle's run, and each node recomputed from
        # the framework's own inputs, here the oracle's own) are the call's GEMMs.
        calls = _calls(lambda: comparison.compare(m, x, own, precision="float32"))
    f64 = collections.Counter({c: k for c, k in calls.items() if c.dtype == "float64"})
    assert f64 == call + call, f"{arch}: compare's float64 walks make other GEMM calls than the call"
    f32 = collections.Counter({c: k for c, k in calls.items() if c.dtype == "float32"})
    with refresnet_threads(1):
        emulated = _calls(lambda: [m.trace(x[i : i + 1], precision="float32") for i in range(2)])
    # The emulated run of the oracle is the emulated trace of each image; the
    # emulated recomputation from the framework's (rounded) inputs multiplies the
    # same weights in the same blocks, by other right operands.
    assert not emulated - f32, f"{arch}: compare's emulated run differs from emulated traces of each image"

    def shapes(counter):
        return collections.Counter({c._replace(b_digest=""): k for c, k in counter.items()})

    assert shapes(f32 - emulated) == shapes(emulated), f"{arch}: compare's emulated recomputation cuts other blocks"


def test_every_blas_call_in_refresnet_goes_through_blas_gemm():
    # The call records above see only refresnet.runtime.blas.gemm: any other product in the
    # package (matmul, dot, the @ operator, linalg) would escape them. Code tokens
    # only: docstrings and comments may write "x @ w".
    import io
    import tokenize

    banned = {"matmul", "dot", "einsum", "tensordot", "inner", "vdot", "linalg"}
    root = os.path.join(os.path.dirname(HERE), "refresnet")
    gemm = os.path.join(root, "runtime", "blas.py")
    # Without the source beside the tests (an installed copy, a moved blas.py) the
    # scan below would pass on nothing: it must find the package and the one file
    # allowed to call BLAS.
    assert os.path.isfile(gemm), f"no refresnet source to scan: {gemm} not found"
    offenders, scanned = [], 0
    for folder, _, files in os.walk(root):
        for f in files:
            path = os.path.join(folder, f)
            if not f.endswith(".py") or path == gemm:
                continue
            scanned += 1
            with open(path, encoding="utf-8") as fh:
                tokens = list(tokenize.generate_tokens(io.StringIO(fh.read()).readline))
            for k, tok in enumerate(tokens):
                prev = tokens[k - 1] if k else None
                attr = tok.type == tokenize.NAME and tok.string in banned and prev is not None and prev.string == "."
                # An infix @ follows an operand; a decorator's @ starts a line.
                infix = tok.type == tokenize.OP and tok.string in ("@", "@=") and prev is not None and (
                    prev.type in (tokenize.NAME, tokenize.NUMBER) or prev.string in (")", "]"))
                if attr or infix:
                    offenders.append(f"{os.path.relpath(path, root)}:{tok.start[0]}: {tok.line.strip()}")
    assert scanned >= 30, f"only {scanned} modules scanned under {root}"
    assert not offenders, "BLAS calls outside refresnet/runtime/blas.py:\n" + "\n".join(offenders)
