"""conv2d: 2-D cross-correlation of NCHW float64 input, im2col + a fixed grid of GEMM blocks per image."""

import functools
from typing import NamedTuple

import numpy as np

from .. import blas, threads
from ... import kernels
from ...kernels import im2col
from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw, as_vector, check_positive, conv_out_size, even_cuts, explicit_padding, pair


# The fixed cut of a convolution's GEMMs. One image's product for one group,
# w (O/groups, K) by the unfolded input (K, OH*OW), is computed as column panels
# of at most COLUMN_BLOCK output positions by row blocks of at most ROW_BLOCK
# output channels, each block one single-threaded BLAS call. The bounds depend on
# the layer's shape alone - never on the batch, the thread count or the CPU - so
# every path that computes an image makes the same BLAS calls and gets the same
# bits on any machine. The sizes only set speed: big enough that packing costs
# little, small enough that two or more threads can share a batch-1 layer.
# Measured on a 2-core Intel Xeon (family 6 model 207, OpenBLAS 0.3.31 SkylakeX),
# ResNet-50 at 224: one thread's GEMMs per image took 207 ms uncut, 213 ms in
# 128x1024 blocks, 217 in 128x512, 219 in 128x256, 231 in 64x1024; whole calls
# (batch 1 | batch 8, ms/image, interleaved medians) 183 | 155 at 128x1024,
# 187 | 169 at 128x512, 202 | 173 at 128x256 (benchmarks/RESULTS.md).
ROW_BLOCK = 128
COLUMN_BLOCK = 1024


class Epilogue(NamedTuple):
    """What each GEMM block gets after its product, in this order, while it is
    in cache: + bias; batch norm (mean, var, gamma, beta, eps); + residual (one
    image's (O, OH, OW) array: the residual add); max(., 0)."""

    bias: object = None
    bn: tuple = None
    residual: object = None
    relu: bool = False


class Block(NamedTuple):
    """One GEMM block: output channels [r0, r1) of group ``group`` at output
    positions [p0, p1) (flattened oy*OW + ox)."""

    group: int
    r0: int
    r1: int
    p0: int
    p1: int


def panels(g):
    """The fixed column panels [(p0, p1), ...] of one image's GEMMs: its output
    positions cut into pieces of at most COLUMN_BLOCK."""
    positions = g.out_h * g.out_w
    cuts = even_cuts(positions, -(-positions // COLUMN_BLOCK))
    return list(zip(cuts, cuts[1:]))


def row_blocks(g):
    """The fixed row blocks [(group, r0, r1), ...]: each group's output channels
    cut into pieces of at most ROW_BLOCK."""
    og = g.out_channels // g.groups
    rows = even_cuts(og, -(-og // ROW_BLOCK))
    return [(grp, grp * og + r0, grp * og + r1) for grp in range(g.groups) for r0, r1 in zip(rows, rows[1:])]


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, team=None, batch_norm=None, relu=False,
           residual=None):
    """y[n, o, oy, ox] = bias[o] + sum_{c, i, j} w[o, c, i, j] * xp[n, g*Cg + c, oy*sh + i*dh, ox*sw + j*dw]

    with xp the input zero-padded by ``padding`` and g = o // (out/groups): a
    cross-correlation (no kernel flip), as torch.nn.functional.conv2d and Keras
    Conv2D compute.

    x: (N, C, H, W); w: (out, C/groups, kh, kw); bias: (out,) or None.
    stride, dilation: int or pair. padding: int, (ph, pw), ((top, bottom),
    (left, right)), "valid", or "same" with TensorFlow's rule (the odd extra pad
    at bottom/right). Output size per axis: floor((H + top + bottom - dh*(kh-1) - 1)/sh) + 1.

    Summation order: each image's output positions are cut into the fixed
    ``panels`` of its shape; each panel's positions are unfolded (im2col, rows
    ordered (c, i, j)) into a matrix of their own and multiplied by w in the
    fixed ``row_blocks``, each block one single-threaded BLAS GEMM over the whole
    K = C/groups*kh*kw; the bias is added after the sum. An image's result
    therefore does not depend on the rest of the batch, on the thread count, or
    on which thread computes a block. ``team`` (refresnet.runtime.executor.Team):
    threads that share one image's panels (or, for a single panel, its
    unfolding by channels and its row blocks).

    ``batch_norm`` (a dict of refresnet.runtime.ops.batch_norm's mean, var, gamma, beta,
    eps), ``residual`` (an array of the output's shape) and ``relu``: the BN,
    the residual add and the ReLU that follow, applied in that order to each
    block right after its GEMM while it is in cache (the executor's fused
    plan). Each output element goes through the same operations as conv2d,
    batch_norm, add and relu one after another, so the values are identical.
    """
    x = as_nchw(x)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    g = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    if bias is not None:
        bias = as_vector(bias, g.out_channels, "bias")
    out = np.empty((x.shape[0], g.out_channels, g.out_h, g.out_w), dtype=np.float64)
    bn = None if batch_norm is None else _bn_args(batch_norm, g.out_channels)
    if residual is not None:
        residual = np.asarray(residual, dtype=np.float64)
        if residual.shape != out.shape:
            raise ValueError(f"residual add: shapes {out.shape} and {residual.shape} differ")

    def epilogue(n):
        return Epilogue(bias, bn, None if residual is None else residual[n], bool(relu))

    cut = panels(g)
    with threads.single_threaded_blas():
        if team is None or team.size == 1 or x.shape[0] != 1:
            buf = panel_buffer(g)
            for n in range(x.shape[0]):
                for p0, p1 in cut:
                    compute_panel(x[n], w, g, out[n], p0, p1, epilogue(n), buf)
            return out
        if len(cut) > 1:
            team.map(lambda i: compute_panel(x[0], w, g, out[0], *cut[i], epilogue(0)), len(cut))
            return out
        if g.pointwise:
            operand = panel_operand(x[0], g, *cut[0])
        else:
            # One panel: the team unfolds it by channels (im2col only copies, so
            # any split gives the same matrix), then shares its row blocks.
            rows, positions = g.in_channels * g.kh * g.kw, g.out_h * g.out_w
            operand = panel_buffer(g)[: rows * positions].reshape(rows, positions)
            c = even_cuts(g.in_channels, team.size)
            team.map(lambda i: unfold(x[0], g, operand, c[i], c[i + 1]), len(c) - 1)
        rows = row_blocks(g)
        team.map(lambda i: gemm_block(w, operand, g, out[0], Block(*rows[i], *cut[0]), epilogue(0)), len(rows))
    return out


def panel_buffer(g):
    """Room for the unfolded matrix of any one panel of ``g`` (None for a pointwise conv)."""
    if g.pointwise:
        return None
    return np.empty(g.in_channels * g.kh * g.kw * max(p1 - p0 for p0, p1 in panels(g)), dtype=np.float64)


def panel_operand(image, g, p0, p1, buf=None):
    """The right operand of panel [p0, p1) of one (C, H, W) image: the image's
    own columns for a pointwise conv, else those positions unfolded into a
    C-contiguous (C*kh*kw, p1 - p0) matrix at the start of ``buf``. Its strides
    depend on the panel alone, whichever buffer it lands in."""
    if g.pointwise:
        return image.reshape(g.in_channels, -1)[:, p0:p1]
    rows = g.in_channels * g.kh * g.kw
    if buf is None:
        buf = panel_buffer(g)
    cols = buf[: rows * (p1 - p0)].reshape(rows, p1 - p0)
    im2col(image, taps(image.shape[1], image.shape[2], g, p0, p1), cols)
    return cols


@functools.lru_cache(maxsize=256)  # a few dozen (layer, panel) pairs per network, ~10 kB to 400 kB each
def taps(h, w, g, p0, p1):
    """im2col's table for output positions [p0, p1) of an h x w input: for tap
    (i, j) and position p = oy*out_w + ox, the flat index iy*w + ix of the pixel
    it reads (iy = oy*sh - top + i*dh, ix = ox*sw - left + j*dw), -1 in the
    padding (int32 unless the plane has 2**31 pixels or more)."""
    p = np.arange(p0, p1)
    oy, ox = p // g.out_w, p % g.out_w
    iy = oy * g.sh - g.top + np.arange(g.kh)[:, None, None] * g.dh
    ix = ox * g.sw - g.left + np.arange(g.kw)[None, :, None] * g.dw
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    table = np.where(inside, iy * w + ix, -1).reshape(g.kh * g.kw, p1 - p0)
    table = table.astype(np.int32 if h * w < 2**31 else np.int64)
    table.flags.writeable = False
    return table


def compute_panel(image, w, g, out_n, p0, p1, epilogue=Epilogue(), buf=None):
    """Panel [p0, p1) of one image: unfold its positions, then its row blocks.
    A float32 ``w`` (emulated precision) gets the operand cast to float32: im2col
    only copies, so unfolding float64 and casting equals unfolding float32 data."""
    operand = panel_operand(image, g, p0, p1, buf)
    if operand.dtype != w.dtype:
        operand = np.ascontiguousarray(operand, dtype=w.dtype)
    for grp, r0, r1 in row_blocks(g):
        gemm_block(w, operand, g, out_n, Block(grp, r0, r1, p0, p1), epilogue)


class Geometry(NamedTuple):
    """What one conv2d call's shapes and arguments fix: kernel, stride, dilation,
    the top/left padding, the output size, and the channel counts."""

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    top: int
    left: int
    out_h: int
    out_w: int
    groups: int
    in_channels: int
    out_channels: int
    pointwise: bool  # 1x1, stride 1, no padding: the input already is the GEMM operand


def geometry(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Check a conv2d call's shapes and arguments; return its Geometry."""
    if len(w_shape) != 4:
        raise ValueError(f"w: expected (out, in/groups, kh, kw), got shape {tuple(w_shape)}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    N, C, H, W = x_shape
    O, Cg, kh, kw = w_shape
    if C % groups or O % groups:
        raise ValueError(
            f"groups={groups} must divide both input channels {C} (x {tuple(x_shape)}) "
            f"and output channels {O} (w {tuple(w_shape)})"
        )
    if Cg * groups != C:
        raise ValueError(
            f"w {tuple(w_shape)} expects {Cg}*groups={Cg * groups} input channels, "
            f"but x {tuple(x_shape)} has {C} (groups={groups})"
        )
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    dh, dw = check_positive(pair(dilation, "dilation"), "dilation")
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (dh, dw), (H, W))
    OH = conv_out_size(H, kh, sh, dh, t, b, "conv2d height")
    OW = conv_out_size(W, kw, sw, dw, l, r, "conv2d width")
    pointwise = kh == 1 and kw == 1 and (sh, sw) == (1, 1) and (t, b, l, r) == (0, 0, 0, 0)
    return Geometry(kh, kw, sh, sw, dh, dw, t, l, OH, OW, int(groups), C, O, pointwise)


def unfold(image, g, operand, c0=0, c1=None):
    """im2col of channels [c0, c1) of one (C, H, W) image into their rows of a
    single panel's operand (C*kh*kw, OH*OW), as panel_operand lays it out. Each
    channel's rows depend on that channel alone, so unfolding channel ranges
    separately gives the same matrix as unfolding the whole image."""
    c1 = image.shape[0] if c1 is None else c1
    rows = g.kh * g.kw
    im2col(image[c0:c1], taps(image.shape[1], image.shape[2], g, 0, g.out_h * g.out_w), operand[c0 * rows : c1 * rows])
    return operand


def _bn_args(bn, channels):
    eps = float(bn["eps"])
    if not eps >= 0.0:
        raise ValueError(f"eps: expected a non-negative number, got {eps!r}")
    return tuple(as_vector(bn[k], channels, k) for k in ("mean", "var", "gamma", "beta")) + (eps,)


def gemm_block(w, operand, g, out_n, block, epilogue=Epilogue()):
    """Compute one Block of one image: out_n[r0:r1, p0:p1] (as (O, OH*OW)) =
    w[r0:r1] (as (O, K)) @ the group's rows of its panel's ``operand``, by one
    BLAS call; then the ``epilogue`` on the block: + bias[r0:r1]; batch norm's
    kernel on the block's channels; + the residual's block (IEEE addition
    commutes, so either operand order gives these bits); max(., 0)."""
    K = operand.shape[0] // g.groups
    grp, r0, r1, p0, p1 = block
    out2 = out_n.reshape(g.out_channels, -1)
    dst = out2[r0:r1, p0:p1]
    blas.gemm(w.reshape(g.out_channels, -1)[r0:r1], operand[grp * K : (grp + 1) * K], dst)
    bias, bn, residual, relu = epilogue
    if bias is not None:
        dst += bias[r0:r1, None]
    if bn is not None:
        mean, var, gamma, beta, eps = bn
        # The ReLU joins the BN kernel's pass unless the residual add comes between.
        kernels.batch_norm(dst[None], mean[r0:r1], var[r0:r1], gamma[r0:r1], beta[r0:r1], eps,
                           relu and residual is None, dst[None])
        relu = relu and residual is not None
    if residual is not None:
        dst += residual.reshape(g.out_channels, -1)[r0:r1, p0:p1]
    if relu:
        np.maximum(dst, 0.0, out=dst)
    return dst


def emulated(args, kw, precision):
    """conv2d under an emulated precision (refresnet/runtime/precision.py): the
    input and weights rounded to the storage format, then to the GEMM operand
    format (tf32 for tf32); each product formed exactly in float32 (the product
    of two <=11-bit significands fits in 24 bits) and the sums accumulated in
    float32 by NumPy's float32 GEMM (OpenBLAS sgemm: its own blocking order, like
    any BLAS); the bias, rounded to the storage format, added in float32; the
    result rounded to the storage format."""
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    g = geometry(x.shape, w.shape, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                 kw.get("groups", 1))
    w32 = np.ascontiguousarray(w.astype(np.float32))
    out = np.empty((x.shape[0], g.out_channels, g.out_h, g.out_w), dtype=np.float32)
    buf = panel_buffer(g)
    x = np.ascontiguousarray(x)
    bias = kw.get("bias")
    bias32 = None if bias is None else round_to(bias, storage).astype(np.float32)
    with threads.single_threaded_blas():
        for n in range(x.shape[0]):
            # The float32 GEMM is cut into the same fixed panels and row blocks as
            # the float64 one, so its bits too are the image's own.
            for p0, p1 in panels(g):
                compute_panel(x[n], w32, g, out[n], p0, p1, Epilogue(bias32), buf=buf)
    return round_to(out, storage)


def conv2d_backward(grad_out, inputs, outputs, *, w, bias=None, stride=1, padding=0, dilation=1, groups=1, **_):
    """Gradients of y = conv2d(x, w, bias) (refresnet/runtime/ops/conv2d.py):

        dw[o, c, i, j] = sum_{n, oy, ox} dy[n, o, oy, ox] * xp[n, g*Cg + c, oy*sh + i*dh, ox*sw + j*dw]
        dbias[o]       = sum_{n, oy, ox} dy[n, o, oy, ox]
        dx[n, g*Cg + c, iy, ix] = sum over (o in group g, i, j, oy, ox) with
                                  oy*sh + i*dh - top = iy and ox*sw + j*dw - left = ix
                                  of w[o, c, i, j] * dy[n, o, oy, ox]

    with xp the zero-padded input (top/left padding from the forward's rule:
    explicit pads, or TensorFlow's 'same' with the odd extra pad at
    bottom/right, refresnet/runtime/ops/_common.py explicit_padding). Padding
    positions receive gradient that is dropped.

    Order: per image n, per fixed column panel [p0, p1) of its output positions
    (the forward's ``panels``: bounds from the layer's shape alone), per group,
    two BLAS calls: dw_g += dy_g[:, p0:p1] @ cols_g[:, p0:p1].T (cols the
    forward's im2col unfolding, rows (c, i, j)), summed over panels then images
    in order; and dcols_g[:, p0:p1] = w_g.T @ dy_g[:, p0:p1]. Each image's dcols
    is folded back (col2im) one tap (i, j) at a time in row-major tap order, so
    each input pixel sums its taps in that order. dbias is NumPy's sum over
    (n, oy, ox) of dy.

    Returns (dx, dw, dbias or None).
    """
    x = as_nchw(inputs[0])
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    g = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    N, C, H, W = x.shape
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64))
    if dy.shape != (N, g.out_channels, g.out_h, g.out_w):
        raise ValueError(f"conv2d backward: grad_out {dy.shape}, expected {(N, g.out_channels, g.out_h, g.out_w)}")
    O, P = g.out_channels, g.out_h * g.out_w
    og, K = O // g.groups, (C // g.groups) * g.kh * g.kw
    w2 = w.reshape(O, K)
    dw = np.zeros((O, K))
    dx = np.empty_like(x)
    cut = panels(g)
    buf = None if g.pointwise else np.empty(C * g.kh * g.kw * max(p1 - p0 for p0, p1 in cut))
    dcols = np.empty((C * g.kh * g.kw, P))
    # Padded buffer of every position a tap reads (bottom/right may run past
    # the input by the padding, or fall short of it when the stride skips the
    # last rows: those rows get no gradient).
    hp = max(g.top + H, (g.out_h - 1) * g.sh + (g.kh - 1) * g.dh + 1)
    wp = max(g.left + W, (g.out_w - 1) * g.sw + (g.kw - 1) * g.dw + 1)
    with threads.single_threaded_blas():
        for n in range(N):
            dyn = dy[n].reshape(O, P)
            for p0, p1 in cut:
                operand = panel_operand(x[n], g, p0, p1, buf)
                for grp in range(g.groups):
                    rows = slice(grp * og, (grp + 1) * og)
                    ks = slice(grp * K, (grp + 1) * K)
                    part = np.empty((og, K))
                    blas.gemm(dyn[rows, p0:p1], operand[ks].T, part)
                    dw[rows] += part
                    back = np.empty((K, p1 - p0))
                    blas.gemm(w2[rows].T, dyn[rows, p0:p1], back)
                    dcols[ks, p0:p1] = back
            if g.pointwise:
                dx[n] = dcols.reshape(C, H, W)
                continue
            d5 = dcols.reshape(C, g.kh, g.kw, g.out_h, g.out_w)
            dxp = np.zeros((C, hp, wp))
            for i in range(g.kh):
                for j in range(g.kw):
                    y0, x0 = i * g.dh, j * g.dw
                    dxp[:, y0 : y0 + (g.out_h - 1) * g.sh + 1 : g.sh, x0 : x0 + (g.out_w - 1) * g.sw + 1 : g.sw] += d5[:, i, j]
            dx[n] = dxp[:, g.top : g.top + H, g.left : g.left + W]
    dbias = None if bias is None else dy.sum(axis=(0, 2, 3))
    return dx, dw.reshape(w.shape), dbias


OP = register("conv2d", conv2d, emulated, takes_team=True, fuses_relu=True, fuses_batch_norm=True, fuses_add=True, backward=conv2d_backward, params=('w', 'bias'))
