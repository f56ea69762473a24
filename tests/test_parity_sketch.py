"""The layer check of every parity test (tests/fixtures/sketch.py) catches a 1e-9
error anywhere in a layer, at every layer shape any parity fixture records.

The parity tests compare each traced layer with its recorded fingerprint at NET_RTOL
(1e-10 of the layer's max). Here the fingerprint of a synthetic activation of each
recorded shape is taken, then one element is moved by 1e-9 of the layer's max (at
the first, last, largest and one hashed unsampled position, either sign): every one must
fail, on top of noise as large in norm as the worst honest layer (which alone must
pass), so the check is neither blind nor too tight for an honest float64 network.
"""

import glob
import math
import os

import numpy as np
import pytest

from fixtures import sketch
from tolerances import NET_RTOL

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
PLANTED = 1e-9  # the local error that must fail, relative to the layer's max
# The largest honest error norm of any recorded layer, relative to its max (Keras
# resnet152 conv4_block21_3_conv, tests/fixtures/sketch.py): spread over the layer
# as noise, it must pass, and must not hide a planted error.
HONEST = 1.03e-10


def _shape_rows(npz):
    """Every recorded layer shape in one fixture file, whatever its layout."""
    out = []
    for key in npz.files:
        # torchvision / timm / transformers (tv_fixture.stack_sketches): <prefix>shapes;
        # CIFAR (make_cifar_fixtures.pack_trace): <tag>::sketch_shape, rows padded with -1
        if key.endswith("shapes") and not key.startswith("spec") or key.endswith("::sketch_shape"):
            out += [tuple(int(d) for d in row if d >= 0) for row in npz[key]]
        # Keras / Keras CIFAR (sketch.pack): <layer>::shape
        elif key.endswith("::shape"):
            out.append(tuple(int(d) for d in npz[key]))
    return out


def recorded_shapes():
    files = [f for d in ("torchvision", "hub", "cifar", "keras", "keras_cifar") for f in glob.glob(os.path.join(FIXTURES, d, "*.npz"))]
    shapes, per_dir = set(), {}
    for f in files:
        with np.load(f) as z:
            rows = _shape_rows(z)
        shapes.update(rows)
        per_dir[os.path.basename(os.path.dirname(f))] = per_dir.get(os.path.basename(os.path.dirname(f)), 0) + len(rows)
    return sorted(shapes, key=lambda s: (math.prod(s), s)), per_dir


SHAPES, PER_DIR = recorded_shapes()


def test_every_parity_fixture_records_layer_shapes():
    # A layout this file cannot read would leave its shapes untested.
    assert set(PER_DIR) == {"torchvision", "hub", "cifar", "keras", "keras_cifar"}, PER_DIR
    assert all(n > 50 for n in PER_DIR.values()), PER_DIR


def activation(shape, seed):
    """A ReLU-network-like activation: mostly O(1), a quarter zeros, a few larger values."""
    rng = np.random.default_rng([seed, 26])
    x = rng.standard_normal(shape) * rng.uniform(0.2, 5.0)
    x[rng.uniform(size=shape) < 0.25] = 0.0
    return x


def positions(n, absmax_index):
    """First, last, the largest, and one hashed element (not a sampled one when n > 64,
    so that only the projections can see it)."""
    sampled = set(sketch.sample_positions(n).tolist())
    hashed = next((int(p) for p in sketch.sample_positions(n + 1) if int(p) < n and int(p) not in sampled), 0)
    return sorted({0, n - 1, int(absmax_index), hashed})


def test_the_recorded_shapes_are_many():
    assert len(SHAPES) > 50


@pytest.mark.parametrize("part", range(4))  # four parts, so pytest-xdist can share them out
def test_a_planted_1e_9_local_error_fails_at_every_recorded_layer_shape(part):
    missed, rejected = [], []
    for j, shape in list(enumerate(SHAPES))[part::4]:
        x = activation(shape, j)
        sk = sketch.sketch(x)
        flat = x.ravel()
        absmax = float(sk["absmax"])
        # rounding everywhere, as large in norm as the worst honest layer
        noise = np.random.default_rng(j).standard_normal(flat.size)
        noisy = flat + noise * (HONEST * absmax / np.linalg.norm(noise))
        try:
            sketch.check(sk, noisy.reshape(shape), NET_RTOL, name=str(shape))
        except AssertionError as e:
            rejected.append(str(e))
        for k, i in enumerate(positions(flat.size, np.argmax(np.abs(flat)))):
            sign = (-1.0) ** (j + k)  # both signs across positions and shapes
            bad = noisy.copy()
            bad[i] += sign * PLANTED * absmax
            try:
                sketch.check(sk, bad.reshape(shape), NET_RTOL, name=str(shape))
            except AssertionError:
                continue
            missed.append((shape, i, sign))
    assert not rejected, f"honest float64 noise fails the check: {rejected[:3]}"
    assert not missed, f"a {PLANTED:g} local error passes the layer check at {len(missed)} cases, e.g. {missed[:5]}"


@pytest.mark.parametrize("where", ["element", "row", "channel"])
def test_errors_the_old_fingerprint_passed_now_fail(where):
    # The example: 1e-6 of the max along one row of one channel of a
    # 2x64x112x112 layer passed the old check (max, samples, L2, two dense
    # projections bounded by tol * n / 2); 1e-9 must fail now.
    x = activation((2, 64, 112, 112), 1)
    sk = sketch.sketch(x)
    bad = x.copy()
    region = {"element": (1, 5, 60, 17), "row": (0, 33, 50), "channel": (1, 7)}[where]
    bad[region] += PLANTED * float(sk["absmax"])
    with pytest.raises(AssertionError, match="projections differ"):
        sketch.check(sk, bad, NET_RTOL, name=where)
    assert sketch.projected_error(sk, bad) >= 0.5 * PLANTED


def test_projections_round_far_below_the_bound_at_the_largest_layer():
    # np.bincount sums each bucket in order; against exact sums (math.fsum) its
    # rounding must stay far below NET_RTOL * max|x| at the largest recorded layer.
    shape = SHAPES[-1]
    x = activation(shape, 3).ravel()
    b, s = sketch._buckets(x.size)
    exact = np.array([math.fsum((s * x)[b == j]) for j in range(sketch.N_BUCKETS)])
    err = float(np.linalg.norm(sketch.project(x) - exact)) / float(np.max(np.abs(x)))
    assert err < NET_RTOL / 30, (shape, err)


def test_a_single_element_error_is_seen_with_its_full_size():
    # One wrong element lands in one bucket with sign +-1: ||S e|| = |e|, exactly.
    x = activation((3, 5, 7), 4)
    sk = sketch.sketch(x)
    for i in range(x.size):
        bad = x.ravel().copy()
        bad[i] += 0.25
        assert sketch.projected_error(sk, bad) * float(sk["absmax"]) == pytest.approx(0.25, rel=1e-12)


def test_an_old_two_projection_fingerprint_is_refused():
    x = activation((4, 8), 5)
    sk = dict(sketch.sketch(x), proj=np.zeros(2))
    with pytest.raises(AssertionError, match="regenerate the fixture"):
        sketch.check(sk, x, NET_RTOL)
