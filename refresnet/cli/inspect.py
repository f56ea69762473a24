"""``python -m refresnet inspect``: what a weight file holds (format, architecture,
constants, a hash per tensor in torch layout) and its printing."""

import json
import os
from collections import Counter


from ..families.registry import family_of_row, preset_for
from ..load import load, sniff_format
from ..weights import open_model
from ..text import printable
from .common import EXIT_OK, say


def _is_onnx_file(spec):
    if spec.startswith("synthetic:") or not os.path.isfile(spec):
        return False
    return sniff_format(spec) == "onnx"


def onnx_inspect_report(path):
    """inspect for an .onnx file: the graph, its opset and what refresnet recognises in it."""
    model = load(path)
    a = model.arch
    rec = a.recognition
    return {
        "file": path, "format": "onnx", "size_bytes": os.path.getsize(path), "opset": a.opset, "producer": a.producer,
        "input": {"name": a.input_name, "shape": list(a.input_shape or ()), "type": a.input_type},
        "output": a.output_name, "num_classes": model.num_classes, "arch": rec.row,
        "recognition": rec.text, "departures": list(rec.departures),
        "ops": dict(Counter(n.op for n in model.nodes)), "nodes": len(model.nodes),
        "parameter_count": int(model.parameter_count()),
    }


def inspect_report(spec, arch=None):
    if _is_onnx_file(spec):
        return onnx_inspect_report(spec)

    # Every tensor hashed in torch layout, as the row's family's key style says (refresnet/weights.py).
    opened = open_model(spec, arch, tensors=True)
    model, synthetic = opened.model, opened.synthetic
    row, label, fmt = model.arch, model.path, model.source
    try:
        preset = preset_for(row, label)
        pre = {"name": preset.name, "description": preset.describe()}
    except ValueError as err:
        pre = {"name": None, "description": str(err)}
    tensors = [{"name": name, "shape": list(shape), "dtype": dtype, "l2": l2, "hash": fp}
               for name, shape, dtype, l2, fp in opened.tensors]
    family = family_of_row(row)
    variant = family.summary if family is not None else row.naming
    if row.conv_padding == "same":
        padding_rule = "TensorFlow 'same' on every conv (odd extra pad at bottom/right: (0, 1) for a stride-2 3x3 on 32x32)"
    elif row.pool_pad_value == float("-inf"):
        padding_rule = "explicit symmetric padding (torch implicit pads; max pool pads with -inf)"
    else:
        padding_rule = "explicit ZeroPadding2D before 'valid' conv1 and max pool (the pool sees zeros)"
    return {
        "file": label,
        "synthetic": synthetic,
        "format": fmt,
        "size_bytes": os.path.getsize(label) if not synthetic else None,
        "arch": row.name,
        "framework": row.framework,
        "variant": variant,
        "family": row.framework,
        "variant_letters": getattr(row, "variant", ""),
        "attention": getattr(row, "attn", "") or None,
        "description": row.describe(),
        "bn_eps": row.bn_eps,
        "stride_at": row.stride_at,
        "conv_bias": sorted(row.conv_bias),
        "stem": {"kernel": row.stem_kernel, "stride": row.stem_stride,
                 "pad": "same" if row.conv_padding == "same" else row.stem_pad},
        "pool_pad_value": ("-inf" if row.pool_pad_value == float("-inf") else row.pool_pad_value) if row.stem_pool else None,
        "padding_rule": padding_rule,
        "layout": row.layout,
        "head": row.head,
        "include_top": bool(model.include_top),
        "pooling": model.pooling,
        "num_classes": model.num_classes,
        "parameter_count": int(model.parameter_count()),
        "preprocess": pre,
        "fingerprint": opened.fingerprint,
        "tensors": tensors,
    }


def run_inspect(args):
    rep = inspect_report(args.file, args.arch)
    if args.json:
        print(json.dumps(rep))
        return EXIT_OK
    if rep["format"] == "onnx":
        for k, v in [("file", f"{rep['file']} ({rep['size_bytes']} bytes)"),
                     ("format", f"ONNX, opset {rep['opset']}, {rep['producer'] or 'unknown producer'}"),
                     ("input", f"{rep['input']['name']!r} {rep['input']['type']} {tuple(rep['input']['shape'])}"),
                     ("recognised as", rep["recognition"]),
                     ("departs", "; ".join(rep["departures"]) or "nowhere"),
                     ("classes", str(rep["num_classes"])), ("parameters", f"{rep['parameter_count']:,}"),
                     ("nodes", f"{rep['nodes']}: " + ", ".join(f"{k} {v}" for k, v in sorted(rep["ops"].items())))]:
            say(f"{k:>14}: {v}")
        return EXIT_OK
    if rep["synthetic"]:
        say(f"*** SYNTHETIC WEIGHTS ({rep['file']}): seeded random, not trained ***")
    size = f" ({rep['size_bytes']} bytes)" if rep["size_bytes"] is not None else ""
    lines = [
        ("file", f"{rep['file']}{size}"),
        ("format", rep["format"]),
        ("architecture", f"{rep['arch']} ({rep['variant']})"),
        ("family", f"{rep['family']}; variant {rep['variant_letters'] or '-'}; attention {rep['attention'] or 'none'}"),
        ("description", rep["description"]),
        ("BN eps", f"{rep['bn_eps']:g}"),
        ("stride at", rep["stride_at"]),
        ("conv bias", ", ".join(rep["conv_bias"]) or "none"),
        ("stem", f"{rep['stem']['kernel']}x{rep['stem']['kernel']} stride {rep['stem']['stride']} pad {rep['stem']['pad']}"),
        ("padding rule", rep["padding_rule"] + (f"; stem pool pad value {rep['pool_pad_value']}" if rep["pool_pad_value"] is not None else "; no stem pool")),
        ("layout / head", f"{rep['layout']} / {rep['head']}"),
        ("include_top", str(rep["include_top"])),
        ("pooling", str(rep["pooling"])),
        ("classes", str(rep["num_classes"])),
        ("parameters", f"{rep['parameter_count']:,}"),
        ("preprocessing", f"{rep['preprocess']['name']}: {rep['preprocess']['description']}"),
        ("fingerprint", f"{rep['fingerprint']} (over every tensor's hash below)"),
    ]
    for k, v in lines:
        say(f"{k:>14}: {v}")
    say(f"\n{len(rep['tensors'])} tensors (hash: SHA-256 of the float64 values in torch layout, so files in any format or layout compare):")
    w = max((len(printable(t["name"])) for t in rep["tensors"]), default=4)
    say(f"  {'name':<{w}}  {'shape':<20} {'dtype':<9} {'L2 norm':>14}  hash")
    for t in rep["tensors"]:
        say(f"  {printable(t['name']):<{w}}  {str(tuple(t['shape'])):<20} {t['dtype']:<9} {t['l2']:>14.6g}  {t['hash']}")
    return EXIT_OK
