"""Compilation flags and exactness of the numba kernels."""


import numpy as np

import refresnet.kernels as K
from refresnet.kernels import _jit


def _dispatchers():
    for name in K.__all__:
        fn = getattr(K, name)
        assert hasattr(fn, "targetoptions"), f"{name} is not a numba dispatcher"
        yield name, fn


def test_no_kernel_uses_fastmath_and_every_kernel_is_cached():
    # fastmath would let LLVM reassociate sums, making results depend on vector width.
    for name, fn in _dispatchers():
        assert fn.targetoptions.get("fastmath") in (False, None), name
        assert fn._cache.__class__.__name__ != "NullCache", f"{name} is not cached"


def test_flags_are_stated_once():
    assert _jit.FLAGS["fastmath"] is False and _jit.FLAGS["cache"] is True


def test_no_top_level_kernels_package_is_importable_outside_the_repository(tmp_path):
    # setup.cfg maps kernels/ to refresnet.kernels; a plain "kernels" in site-packages
    # would shadow or be shadowed by other projects' modules of that name.
    import subprocess
    import sys

    probe = "import importlib.util, refresnet.kernels; print(importlib.util.find_spec('kernels') is None)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert K.__name__ == "refresnet.kernels"


def unfold(x, kh, kw, sh, sw, dh, dw, top, left, out_h, out_w, p0, p1, cols):
    # The kernel with refresnet.runtime.ops.conv2d's tap table for that geometry.
    from refresnet.runtime.ops.conv2d import Geometry, taps

    g = Geometry(kh, kw, sh, sw, dh, dw, top, left, out_h, out_w, 1, x.shape[0], 1, False)
    return K.im2col(x, taps(x.shape[1], x.shape[2], g, p0, p1), cols)


def test_im2col_is_an_exact_copy_with_zeros_in_the_padding():
    x = np.arange(2 * 4 * 5, dtype=np.float64).reshape(2, 4, 5)
    cols = np.full((2 * 3 * 3, 2 * 3), np.nan)
    unfold(x, 3, 3, 2, 2, 1, 1, 1, 1, 2, 3, 0, 6, cols)
    # channel 1, tap (0, 0): rows start at -1 (padding), columns at -1, 1, 3
    row = (1 * 3 + 0) * 3 + 0
    assert cols[row].tolist() == [0.0, 0.0, 0.0, 0.0, x[1, 1, 1], x[1, 1, 3]]
    # centre tap of channel 0 reads x[0, 2*oy, 2*ox]
    row = (0 * 3 + 1) * 3 + 1
    assert cols[row].tolist() == [x[0, 0, 0], x[0, 0, 2], x[0, 0, 4], x[0, 2, 0], x[0, 2, 2], x[0, 2, 4]]


def test_im2col_of_a_range_of_positions_is_those_columns_of_the_whole_unfold():
    # Column panels (ops/conv2d.py) unfold only their positions; each must be the
    # same slice of the full matrix, written out by hand here for one case and
    # checked against the full unfold for ranges that start and end mid-row.
    x = np.arange(3 * 7 * 6, dtype=np.float64).reshape(3, 7, 6) + 1.0
    kh = kw = 3
    sh, sw, top, left = 2, 1, 1, 2
    out_h, out_w = 4, 6
    full = np.full((3 * 9, out_h * out_w), np.nan)
    unfold(x, kh, kw, sh, sw, 1, 1, top, left, out_h, out_w, 0, out_h * out_w, full)
    # the centre tap of channel 2 at (oy, ox) = (1, 3) reads x[2, 1*2 - 1 + 1, 3 - 2 + 1]
    assert full[(2 * 3 + 1) * 3 + 1, 1 * 6 + 3] == x[2, 2, 2]
    for p0, p1 in [(0, 24), (5, 13), (7, 8), (6, 12), (23, 24), (1, 23)]:
        part = np.full((3 * 9, p1 - p0), np.nan)
        unfold(x, kh, kw, sh, sw, 1, 1, top, left, out_h, out_w, p0, p1, part)
        assert np.array_equal(part, full[:, p0:p1]), (p0, p1)
