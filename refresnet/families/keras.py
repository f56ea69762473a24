"""The Keras family: keras.applications' resnet.py and resnet_v2.py names."""

import re

from ..preprocess import PRESETS
from .arch import ALL_CONVS, EPS_KERAS_RESNET, Arch
from .family import KERAS_KEYS, Family, WeightFile, _depths, _has_prefix, auto_namer

def _keras_v1(name, depths, naming="keras", bn_eps=EPS_KERAS_RESNET):
    return Arch(
        name=name, naming=naming, block="bottleneck", depths=depths, stride_at="1x1", conv_bias=ALL_CONVS,
        bn_eps=bn_eps, pool_pad_value=0.0, head="softmax", layout="NHWC", framework="keras",
    )


def _keras_v2(name, depths):
    return Arch(
        name=name, naming="keras", block="preact", depths=depths, stride_at="last", stage_strides=(2, 2, 2, 1),
        conv_bias=frozenset({"stem", "shortcut", "conv3"}), bn_eps=EPS_KERAS_RESNET, pool_pad_value=0.0,
        head="softmax", layout="NHWC", framework="keras",
    )



ROWS = (
    # keras/src/applications/resnet.py (Keras 3; tf_keras identical)
    _keras_v1("keras_resnet50", (3, 4, 6, 3)),
    _keras_v1("keras_resnet101", (3, 4, 23, 3)),
    _keras_v1("keras_resnet152", (3, 8, 36, 3)),
    # keras/src/applications/resnet_v2.py
    _keras_v2("keras_resnet50v2", (3, 4, 6, 3)),
    _keras_v2("keras_resnet101v2", (3, 4, 23, 3)),
    _keras_v2("keras_resnet152v2", (3, 8, 36, 3)),
)


# keras/src/applications/resnet.py and resnet_v2.py (Keras 3.x): WEIGHTS_HASHES' files, fetched
# by keras.utils.get_file into ~/.keras/models (docs/FACTS.md §2).
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_APPS = {"keras_resnet50": "ResNet50", "keras_resnet101": "ResNet101", "keras_resnet152": "ResNet152",
         "keras_resnet50v2": "ResNet50V2", "keras_resnet101v2": "ResNet101V2", "keras_resnet152v2": "ResNet152V2"}


def keras_weight_file(arch, app, preset):
    name = f"{app.lower()}_weights_tf_dim_ordering_tf_kernels.h5"
    return WeightFile(arch, name, "keras", PRESETS[preset], url=KERAS_URL + name, tag="imagenet",
                      downloaded_by=f"keras.applications.{app}(weights='imagenet')")


# V1 files were trained on caffe-preprocessed input, the V2 files on 'tf' (imagenet_utils.py).
WEIGHT_FILES = tuple(keras_weight_file(arch, app, "keras-tf" if app.endswith("V2") else "keras-caffe")
                     for arch, app in _APPS.items())


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
        # resnet_v2.residual_block_v2: a strided block without projection (the last
        # of a strided stage) shortcuts through MaxPooling2D(1, strides), auto-named.
        **({"sc_pool": extra["auto"]("max_pooling2d")}
           if arch.block == "preact" and 0 < index == n_blocks - 1 and arch.stage_strides[stage] > 1 else {}),
    }


def _keras_naming(params, arch, stem, head):
    return stem, head, {"auto": auto_namer()}


def _keras_rows(weights, path):
    depths = _depths(weights, re.compile(r"conv([2-5])_block(\d+)_"), range(2, 6))
    preact = any("_preact_bn/" in k for k in weights)
    return [("keras", dict(block="preact" if preact else "bottleneck", depths=depths))]


def _keras_preset(arch, path):
    return PRESETS["keras-tf" if arch.block == "preact" else "keras-caffe"]


FAMILY = Family(
    "keras", "keras", KERAS_KEYS, "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1_conv", bn="conv1_bn", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="predictions", post_bn="post_bn", post_act="post_relu"),
    block_names=_keras_block, detect=lambda w: _has_prefix(w, "conv1_conv/", "conv2_block1_"), candidates=_keras_rows,
    preset=_keras_preset, naming=_keras_naming, rows=ROWS, weight_files=WEIGHT_FILES, counts_bn_statistics=True,
    # caffe preprocessing: BGR minus the ImageNet mean on the 0..255 scale (spread ~60)
    synthetic_input_scale=lambda arch: 1.0 if arch.block == "preact" else 60.0,
    summary="keras.applications (Keras 3 / tf_keras names)",
)
