"""Every intermediate value of an ONNX graph as ONNX Runtime computes it, for ``compare``.

    report = refresnet.compare(refresnet.load("model.onnx"), x, "model.onnx")
    report = refresnet.compare(model, x, onnxruntime.InferenceSession("model.onnx"))

ONNX Runtime returns only a graph's outputs, so the graph is copied with the
first output of every node added as a graph output, and that copy runs once on
``x``. A value that is a graph output cannot be fused away, so on that run ONNX
Runtime computes each node by itself (the values compare localises). The graph's
own output is taken from the session as given (or a plain session of the file),
with every optimisation it makes in deployment. Needs onnx and onnxruntime.
"""

import os
from collections import OrderedDict

import numpy as np

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def is_onnx_source(obj):
    """A path to an .onnx file, or an onnxruntime.InferenceSession."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj).lower().endswith(".onnx")
    return type(obj).__name__ == "InferenceSession" and type(obj).__module__.startswith("onnxruntime")


def _session_source(session):
    # onnxruntime keeps what the session was built from (onnxruntime/capi/
    # onnxruntime_inference_collection.py, InferenceSession.__init__; 1.32).
    path = getattr(session, "_model_path", None)
    data = getattr(session, "_model_bytes", None)
    if path is None and data is None:
        raise ValueError("onnxruntime session: cannot find the model it was built from; pass the .onnx path")
    return path, data


def collect_onnx(source, x):
    """{value name: array} of every node output of the ONNX graph ``source`` (a
    path or an onnxruntime.InferenceSession) run by ONNX Runtime on ``x``, keyed
    as refresnet's ONNX Model traces them."""
    import onnx
    import onnxruntime as ort

    if isinstance(source, (str, os.PathLike)):
        path, data = os.fspath(source), None
        session = None
        providers = ["CPUExecutionProvider"]
    else:
        session = source
        path, data = _session_source(session)
        providers = session.get_providers()
    model = onnx.load(path) if path is not None else onnx.load_from_string(data)
    if path is not None:
        onnx.load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
    if session is None:
        session = ort.InferenceSession(model.SerializeToString(), providers=providers)
    inp = session.get_inputs()[0]
    feed = {inp.name: np.ascontiguousarray(np.asarray(x), dtype=_ORT_TYPES.get(inp.type, np.float32))}
    final = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))

    have = {o.name for o in model.graph.output}
    for node in model.graph.node:
        out = node.output[0] if node.output else ""
        if out and out not in have and node.op_type != "Constant":
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
            have.add(out)
    every = ort.InferenceSession(model.SerializeToString(), providers=providers)
    names = [o.name for o in every.get_outputs()]
    values = dict(zip(names, every.run(None, feed)))
    values.update(final)  # the graph's outputs as the deployment session computes them
    order = [n.output[0] for n in model.graph.node if n.output and n.output[0] in values]
    return OrderedDict((k, values[k]) for k in order)
