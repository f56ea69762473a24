"""The old Keras family: keras-applications <= 1.0.8 resnet50.py's names."""

import re

from ..preprocess import PRESETS
from .family import _LETTERS, KERAS_KEYS, Family, _depths, _has_prefix
from .arch import EPS_KERAS_DEFAULT
from .keras import _keras_v1, keras_weight_file

ROWS = (
    # keras-applications 1.0.6-1.0.8 resnet50.py (what keras 2.2.4+ ran with the
    # old-named weights): the same graph as keras_resnet50 with old layer names
    # and Keras's default BN epsilon 1e-3 (its BatchNormalization calls pass none).
    _keras_v1("keras_resnet50_old", (3, 4, 6, 3), naming="keras-old", bn_eps=EPS_KERAS_DEFAULT),
)

# The old-named Keras ResNet50 file has the same name as the new one (keras-applications 1.0.8 resnet50.py).
WEIGHT_FILES = (keras_weight_file("keras_resnet50_old", "ResNet50", "keras-caffe"),)


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


FAMILY = Family(
    "keras-old", "keras", KERAS_KEYS, "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1", bn="bn_conv1", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="fc1000"),
    block_names=_keras_old_block, detect=lambda w: _has_prefix(w, "res2a_branch2a/", "bn_conv1/"),
    candidates=_keras_old_rows, preset=lambda arch, path: PRESETS["keras-caffe"], rows=ROWS, weight_files=WEIGHT_FILES,
    counts_bn_statistics=True, synthetic_input_scale=lambda arch: 60.0,  # caffe preprocessing, as keras
    summary="old Keras names (keras-applications 1.0.6-1.0.8 graph: pool1_pad + GlobalAveragePooling2D)",
)
