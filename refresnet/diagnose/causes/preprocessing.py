"""Input preprocessing: the model input each known preprocessing makes, and the
one the model's weights were made for."""

import numpy as np

from ... import preprocess


def _input_maps():
    """(name, channel order, scale, offset): the model input each known
    preprocessing makes from an RGB pixel p in 0..255, x[j] = scale[j] * p[order[j]]
    + offset[j], with the constants of refresnet.preprocess (torchvision's and
    Keras's imagenet_utils values) and the common mistakes around them."""
    mean, std = np.array(preprocess.IMAGENET_MEAN), np.array(preprocess.IMAGENET_STD)
    caffe = np.array(preprocess.CAFFE_MEAN_BGR)
    rgb, bgr = (0, 1, 2), (2, 1, 0)
    maps = [
        ("torchvision (/255, ImageNet mean/std, RGB)", rgb, 1 / (255 * std), -mean / std),
        ("keras-caffe (BGR, minus the caffe mean, 0..255)", bgr, np.ones(3), -caffe),
        ("keras-tf (x/127.5 - 1)", rgb, np.full(3, 1 / 127.5), np.full(3, -1.0)),
        ("0..1 (/255, no mean/std)", rgb, np.full(3, 1 / 255), np.zeros(3)),
        ("0..255 (raw pixels, no scaling)", rgb, np.ones(3), np.zeros(3)),
        ("/255 minus the ImageNet mean, no std", rgb, np.full(3, 1 / 255), -mean),
        ("0..255 minus the ImageNet mean x 255, no std", rgb, np.ones(3), -255 * mean),
        ("caffe mean, RGB order (no BGR swap)", rgb, np.ones(3), -caffe[::-1]),
    ]
    for name, p in preprocess.PRESETS.items():
        if p.kind == "cifar" and tuple(p.mean) != preprocess.IMAGENET_MEAN and any(p.std):
            m, s = np.array(p.mean), np.array(p.std)
            maps.append((f"{name} (/255, mean {p.mean}, std {p.std})", rgb, 1 / (255 * s), -m / s))
    return maps


def _own_map(model):
    """The input map of the preset the model's weights were made for."""
    preset = preprocess.preset_for(model.arch, model.path)
    if preset.kind == "transformers" or (preset.kind == "torchvision" and preset.name.startswith("timm")):
        # A timm or transformers preset: its own scale and mean/std (a tag may use 0.5/0.5).
        m, s = np.array(preset.mean), np.array(preset.std)
        scale = preset.scale if preset.kind == "transformers" else 1 / 255
        return (f"{preset.name} (x {scale:.6g}, mean {tuple(preset.mean)}, std {tuple(preset.std)}, RGB)",
                (0, 1, 2), scale / s, -m / s)
    key = {"torchvision": "torchvision", "keras-caffe": "keras-caffe", "keras-tf": "keras-tf"}.get(preset.kind)
    for entry in _input_maps():
        if key and entry[0].startswith(key):
            return entry
        if preset.kind == "cifar" and entry[0].startswith(preset.name + " "):
            return entry
    if preset.kind == "cifar":  # cifar-0-1, cifar-imagenet-stats
        m, s = np.array(preset.mean), np.array(preset.std)
        if not any(m):
            return ("0..1 (/255, no mean/std)", (0, 1, 2), 1 / (255 * s), np.zeros(3))
        return (preset.name, (0, 1, 2), 1 / (255 * s), -m / s)
    return None
