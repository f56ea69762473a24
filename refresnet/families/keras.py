"""The Keras family: keras.applications' resnet.py and resnet_v2.py names."""

import re

from .. import preprocess as _pre
from .scheme import Scheme, _depths, _has_prefix


def _keras_block(arch, stage, index, n_blocks, extra):
    p = f"conv{stage + 2}_block{index + 1}"
    return {
        "preact_bn": f"{p}_preact_bn", "preact_act": f"{p}_preact_relu",
        "conv1": f"{p}_1_conv", "bn1": f"{p}_1_bn", "act1": f"{p}_1_relu",
        "pad2": f"{p}_2_pad", "conv2": f"{p}_2_conv", "bn2": f"{p}_2_bn", "act2": f"{p}_2_relu",
        "conv3": f"{p}_3_conv", "bn3": f"{p}_3_bn",
        "sc_conv": f"{p}_0_conv", "sc_bn": f"{p}_0_bn",
        "add": f"{p}_add" if arch.block != "preact" else f"{p}_out",
        "out": f"{p}_out", "aliases": {},
    }


def _keras_rows(weights, path):
    depths = _depths(weights, re.compile(r"conv([2-5])_block(\d+)_"), range(2, 6))
    preact = any("_preact_bn/" in k for k in weights)
    return [("keras", dict(block="preact" if preact else "bottleneck", depths=depths))]


def _keras_preset(arch, path):
    return _pre.PRESETS["keras-tf" if arch.block == "preact" else "keras-caffe"]


SCHEME = Scheme(
    "keras", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1_conv", bn="conv1_bn", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="predictions", post_bn="post_bn", post_act="post_relu"),
    block_names=_keras_block, detect=lambda w: _has_prefix(w, "conv1_conv/", "conv2_block1_"), rows=_keras_rows,
    preset=_keras_preset,
    summary="keras.applications (Keras 3 / tf_keras names)",
)
