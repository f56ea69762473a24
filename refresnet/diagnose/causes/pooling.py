"""Pooling: average for max and the reverse, -inf against zero padding, and the
pool geometry (padding, ceil_mode, TF 'same', window) when the shape differs."""

from ...runtime import ops
from .base import Cause


def _avg_for_max(t):
    return [AVG_FOR_MAX.candidate(lambda: t.run_op("avg_pool2d"))]


def _avg_excl_pad_for_max(t):
    return [AVG_EXCL_PAD_FOR_MAX.candidate(lambda: t.run_op("avg_pool2d", count_include_pad=False))]


def _zero_padding(t):
    p = t.kw.get("padding", 0)
    if not (isinstance(p, int) and p > 0):
        return []
    return [ZERO_PADDING.candidate(lambda: t.run([ops.zero_pad2d(t.args[0], p)], padding=0))]


def _max_for_avg(t):
    return [MAX_FOR_AVG.candidate(lambda: t.run_op("max_pool2d", drop=("count_include_pad",)))]


def _global_max_for_avg(t):
    return [GLOBAL_MAX_FOR_AVG.candidate(lambda: t.run_op("global_max_pool2d"))]


def _global_avg_for_max(t):
    return [GLOBAL_AVG_FOR_MAX.candidate(lambda: t.run_op("global_avg_pool2d"))]


def _padding(t):
    pad = t.kw.get("padding", 0)
    return [PADDING.candidate(override=dict(padding=alt), new=alt, old=pad) for alt in (0, 1) if alt != pad]


def _ceil_mode(t):
    ceil = t.kw.get("ceil_mode", False)
    return [CEIL_MODE.candidate(override=dict(ceil_mode=not ceil), new=not ceil, old=ceil)]


def _tf_same(t):
    return [TF_SAME.candidate(override=dict(padding="same"))]


def _padding_ceil_mode(t):
    ceil = t.kw.get("ceil_mode", False)
    return [PADDING_CEIL_MODE.candidate(override=dict(padding=0, ceil_mode=not ceil), new=not ceil)]


def _window(t):
    ks = t.kw["kernel_size"]
    if not (isinstance(ks, int) and ks == 3):
        return []
    return [WINDOW.candidate(override=dict(kernel_size=2))]


POOLS = ("max_pool2d", "avg_pool2d")

AVG_FOR_MAX = Cause("pool.avg_for_max", ("max_pool2d",), "average pooling instead of max", values=_avg_for_max)
AVG_EXCL_PAD_FOR_MAX = Cause("pool.avg_excl_pad_for_max", ("max_pool2d",),
                             "average pooling (padding not counted) instead of max", values=_avg_excl_pad_for_max)
ZERO_PADDING = Cause("pool.zero_padding", ("max_pool2d",),
                     "zero padding before the pool (Keras ZeroPadding2D) instead of -inf", values=_zero_padding)
MAX_FOR_AVG = Cause("pool.max_for_avg", ("avg_pool2d",), "max pooling instead of average", values=_max_for_avg)
GLOBAL_MAX_FOR_AVG = Cause("pool.global_max_for_avg", ("global_avg_pool2d",),
                           "global max pooling instead of average", values=_global_max_for_avg)
GLOBAL_AVG_FOR_MAX = Cause("pool.global_avg_for_max", ("global_max_pool2d",),
                           "global average pooling instead of max", values=_global_avg_for_max)
PADDING = Cause("pool.padding", POOLS, "pool padding {new} instead of {old}", shape=_padding)
CEIL_MODE = Cause("pool.ceil_mode", POOLS, "ceil_mode={new} instead of {old}", shape=_ceil_mode)
TF_SAME = Cause("pool.tf_same", POOLS, "TF 'same' pool padding instead of symmetric", shape=_tf_same)
PADDING_CEIL_MODE = Cause("pool.padding_ceil_mode", POOLS, "pool padding 0 with ceil_mode={new}",
                          shape=_padding_ceil_mode)
WINDOW = Cause("pool.window", POOLS, "2x2 pool window instead of 3x3", shape=_window)

CAUSES = (AVG_FOR_MAX, AVG_EXCL_PAD_FOR_MAX, ZERO_PADDING, MAX_FOR_AVG, GLOBAL_MAX_FOR_AVG, GLOBAL_AVG_FOR_MAX,
          PADDING, CEIL_MODE, TF_SAME, PADDING_CEIL_MODE, WINDOW)
