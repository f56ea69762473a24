"""Which row of the architecture table a weight dict belongs to, from names and shapes."""

import re

from .archs import ARCHS
from .errors import LoadError


def _depths(keys, pattern):
    """Blocks per stage from keys matching `pattern` (groups: stage, block)."""
    blocks = {}
    for k in keys:
        m = pattern.match(k)
        if m:
            stage, block = m.group(1), m.group(2)
            blocks.setdefault(stage, set()).add(block)
    return blocks


def naming_of(weights):
    """'torchvision', 'keras' or 'keras-old', from the tensor names; None if none fits."""
    keys = weights.keys()
    if "conv1.weight" in keys or any(k.startswith("layer1.0.") for k in keys):
        # The CIFAR networks: a 3x3 stem and three stages (He et al. 2015, section 4.2).
        stem = weights.get("conv1.weight")
        if stem is not None and tuple(stem.shape[2:]) == (3, 3) and not any(k.startswith("layer4.") for k in keys):
            return "cifar"
        return "torchvision"
    if any(k.startswith("conv1_conv/") for k in keys) or any(k.startswith("conv2_block1_") for k in keys):
        return "keras"
    if any(k.startswith("res2a_branch2a/") for k in keys) or any(k.startswith("bn_conv1/") for k in keys):
        return "keras-old"
    if any(k.startswith(("conv2d/", "conv2d_1/")) for k in keys) and any(k.startswith("batch_normalization") for k in keys):
        return "keras-cifar"  # auto-named Keras layers: the Keras CIFAR example
    return None


def _match(path, naming, **want):
    for arch in ARCHS.values():
        if arch.naming == naming and all(getattr(arch, k) == v for k, v in want.items()):
            return arch
    found = ", ".join(f"{k}={v}" for k, v in want.items())
    known = ", ".join(a.name for a in ARCHS.values() if a.naming == naming)
    raise LoadError(path, f"not a ResNet refresnet knows ({found}); known {naming} architectures: {known}")


def detect_arch(weights, path=None):
    """The Arch row for a weight dict, or LoadError saying what was found instead."""
    from .schemes import _is_transformers

    if _is_transformers(weights):
        raise LoadError(path, "transformers ResNet names (resnet.embedder..., resnet.encoder...) but no config.json "
                              "beside the file: its ResNetConfig decides the architecture; pass the snapshot "
                              "directory or put the config.json next to the weights")
    naming = naming_of(weights)
    if naming is None:
        sample = ", ".join(sorted(weights)[:5]) or "no tensors at all"
        raise LoadError(
            path,
            "not a ResNet weight file: found neither torchvision names (conv1.weight, layer1.0.conv1.weight) "
            f"nor Keras names (conv1_conv, conv2_block1_1_conv, res2a_branch2a); first names: {sample}",
        )
    keys = list(weights)
    from .schemes import _is_timm
    if naming == "torchvision" and _is_timm(weights):
        # timm's variants: the deep stem's widths, avg_down (downsample.2), attention (se.fc1 / se.conv).
        blocks = _depths(keys, re.compile(r"layer([1-4])\.(\d+)\."))
        depths = tuple(len(blocks.get(str(s), ())) for s in range(1, 5))
        bottleneck = any(k.startswith("layer1.0.conv3.") for k in keys)
        stem = tuple(int(weights[f"conv1.{i}.weight"].shape[0]) for i in (0, 3, 6) if f"conv1.{i}.weight" in weights)
        groups, per_group = 1, 64
        if bottleneck and "layer1.0.conv2.weight" in weights:
            out_ch, in_pg = weights["layer1.0.conv2.weight"].shape[:2]
            groups = out_ch // max(int(in_pg), 1)
            per_group = int(in_pg) * 64 // 64 if groups > 1 else int(out_ch) * 64 // 64
        attn = "se" if any(".se.fc1." in k for k in keys) else ("eca" if any(".se.conv." in k for k in keys) else "")
        want = dict(block="bottleneck" if bottleneck else "basic", depths=depths, groups=groups, deep_stem=stem,
                    avg_down=any(".downsample.2." in k for k in keys), attn=attn)
        if groups > 1:
            want["width_per_group"] = per_group
        return _match(path, "timm", **want)
    if naming == "torchvision":
        blocks = _depths(keys, re.compile(r"layer([1-4])\.(\d+)\."))
        depths = tuple(len(blocks.get(str(s), ())) for s in range(1, 5))
        bottleneck = any(k.startswith("layer1.0.conv3.") for k in keys)
        groups, per_group = 1, 64
        key = "layer1.0.conv2.weight"
        if bottleneck and key in weights:
            out_ch, in_per_group = weights[key].shape[:2]
            if in_per_group == 0 or out_ch % in_per_group:
                raise LoadError(path, f"cannot read the group count from shape {weights[key].shape}", tensor=key)
            groups = out_ch // in_per_group
            # torchvision: width = int(64 * width_per_group / 64) * groups in layer1
            per_group = in_per_group
        want = dict(block="bottleneck" if bottleneck else "basic", depths=depths, groups=groups,
                    width_per_group=per_group)
        try:
            return _match(path, naming, **want)
        except LoadError:
            # A plain timm ResNet torchvision has no row for (resnet26, resnext101_32x4d, ...).
            try:
                return _match(path, "timm", deep_stem=(), avg_down=False, attn="", **want)
            except LoadError:
                pass
            raise
    if naming == "cifar":
        blocks = _depths(keys, re.compile(r"layer([1-3])\.(\d+)\."))
        depths = tuple(len(blocks.get(str(s), ())) for s in range(1, 4))
        projection = any(k.startswith(("layer2.0.shortcut.0.", "layer2.0.downsample.0.")) for k in keys)
        return _match(path, naming, depths=depths, shortcut="B" if projection else "A")
    if naming == "keras-cifar":
        # resnet_v1 of the Keras example: a stem conv, two per block, two shortcuts.
        convs = sum(1 for k in keys if re.fullmatch(r"conv2d(_\d+)?/kernel", k))
        n, rest = divmod(convs - 3, 6)
        if rest or n < 1:
            raise LoadError(path, f"auto-named Keras convs ({convs}) do not make a Keras-example CIFAR ResNet (6n + 3)")
        return _match(path, naming, depths=(n, n, n))
    if naming == "keras":
        blocks = _depths(keys, re.compile(r"conv([2-5])_block(\d+)_"))
        depths = tuple(len(blocks.get(str(s), ())) for s in range(2, 6))
        preact = any("_preact_bn/" in k for k in keys)
        return _match(path, naming, block="preact" if preact else "bottleneck", depths=depths)
    blocks = _depths(keys, re.compile(r"(?:res|bn)([2-5])([a-z])_branch"))
    depths = tuple(len(blocks.get(str(s), ())) for s in range(2, 6))
    return _match(path, naming, depths=depths)
