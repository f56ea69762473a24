"""Input preprocessing: channel order, scaling, mean/std, another preset, and a
per-channel affine map fitted through the first layer. These apply to the layer
that reads the network input (the first conv, or Keras's padding before it)."""

from typing import NamedTuple

import numpy as np

from ... import preprocess
from ...families.registry import preset_for
from ..metrics import norm
from ..solve import solve
from .base import ANY_OP, Cause


class InputMap(NamedTuple):
    """The model input a preprocessing makes from an RGB pixel p in 0..255:
    x[j] = scale[j] * p[order[j]] + offset[j]; ``cause_id`` names the mistake
    it is when the weights want another map."""
    name: str
    order: tuple
    scale: np.ndarray
    offset: np.ndarray
    cause_id: str = "input.preset"

    @property
    def key(self):
        """The map's short name (its name's first word: torchvision, keras-caffe, 0..1 ...)."""
        return self.name.split(" ")[0]


def input_maps():
    """The model input each known preprocessing makes, with the constants of
    refresnet.preprocess (torchvision's and Keras's imagenet_utils values) and
    the common mistakes around them."""
    mean, std = np.array(preprocess.IMAGENET_MEAN), np.array(preprocess.IMAGENET_STD)
    caffe = np.array(preprocess.CAFFE_MEAN_BGR)
    rgb, bgr = (0, 1, 2), (2, 1, 0)
    maps = [
        InputMap("torchvision (/255, ImageNet mean/std, RGB)", rgb, 1 / (255 * std), -mean / std),
        InputMap("keras-caffe (BGR, minus the caffe mean, 0..255)", bgr, np.ones(3), -caffe),
        InputMap("keras-tf (x/127.5 - 1)", rgb, np.full(3, 1 / 127.5), np.full(3, -1.0)),
        InputMap("0..1 (/255, no mean/std)", rgb, np.full(3, 1 / 255), np.zeros(3), "input.missing_mean_std"),
        InputMap("0..255 (raw pixels, no scaling)", rgb, np.ones(3), np.zeros(3), "input.scale_255"),
        InputMap("/255 minus the ImageNet mean, no std", rgb, np.full(3, 1 / 255), -mean, "input.missing_std"),
        InputMap("0..255 minus the ImageNet mean x 255, no std", rgb, np.ones(3), -255 * mean, "input.missing_std"),
        InputMap("caffe mean, RGB order (no BGR swap)", rgb, np.ones(3), -caffe[::-1], "input.caffe_rgb"),
    ]
    for name, p in preprocess.PRESETS.items():
        if p.kind == "cifar" and tuple(p.mean) != preprocess.IMAGENET_MEAN and any(p.std):
            m, s = np.array(p.mean), np.array(p.std)
            maps.append(InputMap(f"{name} (/255, mean {p.mean}, std {p.std})", rgb, 1 / (255 * s), -m / s))
    return maps


def own_map(model):
    """The input map of the preset the model's weights were made for."""
    preset = preset_for(model.arch, model.path)
    if preset.kind == "transformers" or (preset.kind == "torchvision" and preset.name.startswith("timm")):
        # A timm or transformers preset: its own scale and mean/std (a tag may use 0.5/0.5).
        m, s = np.array(preset.mean), np.array(preset.std)
        scale = preset.scale if preset.kind == "transformers" else 1 / 255
        return InputMap(f"{preset.name} (x {scale:.6g}, mean {tuple(preset.mean)}, std {tuple(preset.std)}, RGB)",
                        (0, 1, 2), scale / s, -m / s)
    key = {"torchvision": "torchvision", "keras-caffe": "keras-caffe", "keras-tf": "keras-tf"}.get(preset.kind)
    for entry in input_maps():
        if key and entry.name.startswith(key):
            return entry
        if preset.kind == "cifar" and entry.name.startswith(preset.name + " "):
            return entry
    if preset.kind == "cifar":  # cifar-0-1, cifar-imagenet-stats
        m, s = np.array(preset.mean), np.array(preset.std)
        if not any(m):
            return InputMap("0..1 (/255, no mean/std)", (0, 1, 2), 1 / (255 * s), np.zeros(3))
        return InputMap(preset.name, (0, 1, 2), 1 / (255 * s), -m / s)
    return None


def _bgr(t):
    if not t.reads_input():
        return []
    flipped = t.input_args(t.comparison.x[:, ::-1])
    return [BGR.candidate(lambda: t.run(flipped))]


def _map_candidates(t, cause):
    """The known maps (those of ``cause``) applied to the pixels the oracle's
    input was made from, skipping the weights' own map under any name."""
    if not t.reads_input():
        return []
    own = own_map(t.comparison.model)
    if own is None:
        return []
    x = t.comparison.x
    pos0 = {c: j for j, c in enumerate(own.order)}  # RGB colour -> channel of the oracle's input
    pixels = [(x[:, j] - own.offset[j]) / own.scale[j] for j in range(3)]  # colour own.order[j], 0..255
    wants = own.key
    out = []
    for m in input_maps():
        if m.cause_id != cause.cause_id:
            continue
        if m.key == wants or (tuple(m.order) == tuple(own.order) and np.allclose(m.scale, own.scale, rtol=1e-12)
                                             and np.allclose(m.offset, own.offset, rtol=1e-12)):
            continue  # the weights' own map, under its own or another name
        xv = np.stack([m.scale[j] * pixels[pos0[m.order[j]]] + m.offset[j] for j in range(3)], axis=1)
        out.append(cause.candidate(lambda xv=xv: t.run(t.input_args(xv)), preset=m.name, key=m.key, own=wants))
    return out


def _fitted(t):
    """A per-channel affine map (either channel order) of the oracle's input,
    fitted by least squares between it and what the framework's first layer
    saw, through this linear layer."""
    if not t.reads_input() or own_map(t.comparison.model) is None:
        return []
    x = t.comparison.x
    cand = AFFINE_FITTED.candidate(fit="")

    def fit():
        best = None
        for perm, label in (((0, 1, 2), "same channel order"), ((2, 1, 0), "channels reversed")):
            base = t.run(t.input_args(np.zeros_like(x)))
            if base is None:
                return None
            basis = []
            for j in range(3):
                e = np.zeros_like(x)
                e[:, j] = x[:, perm[j]]
                basis.append(t.run(t.input_args(e)) - base)
                e = np.zeros_like(x)
                e[:, j] = 1.0
                basis.append(t.run(t.input_args(e)) - base)
            target = t.theirs - base
            gram = [[float(np.sum(bi * bj)) for bj in basis] for bi in basis]
            rhs = [float(np.sum(bi * target)) for bi in basis]
            coef = solve(gram, rhs)
            if coef is None:
                continue
            out = base + sum(c * b for c, b in zip(coef, basis))
            err = norm(out - t.theirs)
            if best is None or err < best[0]:
                best = (err, out, coef, label)
        if best is None:
            return None
        a, b = best[2][0::2], best[2][1::2]
        cand.fields["fit"] = (f": scale {np.array2string(a, precision=4)}, offset {np.array2string(b, precision=4)}, "
                         f"{best[3]}")
        return best[1]

    cand.run = fit
    return [cand]


_MAP_SENTENCE = "input preprocessed as {preset} where the weights want {own}"

BGR = Cause("input.bgr", (ANY_OP,), "BGR input instead of RGB (channels reversed)", values=_bgr)
PRESET = Cause("input.preset", (ANY_OP,), _MAP_SENTENCE, values=lambda t: _map_candidates(t, PRESET))
SCALE_255 = Cause("input.scale_255", (ANY_OP,), _MAP_SENTENCE, values=lambda t: _map_candidates(t, SCALE_255))
MISSING_MEAN_STD = Cause("input.missing_mean_std", (ANY_OP,), _MAP_SENTENCE,
                         values=lambda t: _map_candidates(t, MISSING_MEAN_STD))
MISSING_STD = Cause("input.missing_std", (ANY_OP,), _MAP_SENTENCE, values=lambda t: _map_candidates(t, MISSING_STD))
CAFFE_RGB = Cause("input.caffe_rgb", (ANY_OP,), _MAP_SENTENCE, values=lambda t: _map_candidates(t, CAFFE_RGB))
AFFINE_FITTED = Cause("input.affine_fitted", (ANY_OP,),
                      "input scaled by a fitted per-channel affine map of the oracle's input{fit}",
                      values=_fitted, priority=1)

# The common mistakes before the named presets: a preset whose map is one of
# them (cifar-0-1 is "0..1") then gets the mistake's name, which says what to fix.
CAUSES = (BGR, SCALE_255, MISSING_MEAN_STD, MISSING_STD, CAFFE_RGB, PRESET, AFFINE_FITTED)
