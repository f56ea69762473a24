"""The old Keras family: keras-applications <= 1.0.8 resnet50.py's names."""

import re

from .scheme import _LETTERS, Scheme, _depths, _has_prefix


def _keras_old_block(arch, stage, index, n_blocks, extra):
    # keras-applications <= 1.0.8 resnet50.py: 'res' + stage + block letter + branch.
    # Its activations and adds are auto-named by Keras (activation_12, add_3, ...),
    # which depends on the session; refresnet gives them the names the current
    # Keras gives the same layers (conv2_block1_1_relu, conv2_block1_add, ...).
    p = f"{stage + 2}{_LETTERS[index]}"
    q = f"conv{stage + 2}_block{index + 1}"
    return {
        "conv1": f"res{p}_branch2a", "bn1": f"bn{p}_branch2a", "act1": f"{q}_1_relu",
        "conv2": f"res{p}_branch2b", "bn2": f"bn{p}_branch2b", "act2": f"{q}_2_relu",
        "conv3": f"res{p}_branch2c", "bn3": f"bn{p}_branch2c",
        "sc_conv": f"res{p}_branch1", "sc_bn": f"bn{p}_branch1",
        "add": f"{q}_add", "out": f"{q}_out", "aliases": {},
    }


def _keras_old_rows(weights, path):
    return [("keras-old", dict(depths=_depths(weights, re.compile(r"(?:res|bn)([2-5])([a-z])_branch"), range(2, 6))))]


SCHEME = Scheme(
    "keras-old", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1", bn="bn_conv1", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="fc1000"),
    block_names=_keras_old_block, detect=lambda w: _has_prefix(w, "res2a_branch2a/", "bn_conv1/"),
    rows=_keras_old_rows, preset="keras-caffe",
    summary="old Keras names (keras-applications 1.0.6-1.0.8 graph: pool1_pad + GlobalAveragePooling2D)",
)
