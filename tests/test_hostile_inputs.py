"""Hostile inputs beyond the weight readers (issue 21): ONNX graphs, Hub configs and a
safetensors header of very many entries. Each crafted file is built at test time by
tests/fixtures/make_hostile_files.py (tiny, or generated: nothing large is committed)
and read by refresnet in a child process under a memory limit (RLIMIT_AS) and a
timeout, so that a regression fails a test instead of taking pytest down. Each must
give a LoadError naming the file, within LOAD_SECONDS, with the child's peak resident
memory under 700 MB + 4 x the file's size (the issue's bound)."""

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from fixtures import make_hostile_files as mk

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Address space of the reading child: room for Python, NumPy, numba, onnx and the
#: legitimate work, well under what the bombs ask (3.5-6.7 GB).
CHILD_ADDRESS_SPACE = 3 * 2**30
#: Seconds a refusal may take (the issue's bound), and the child's hard timeout.
LOAD_SECONDS = 15
CHILD_TIMEOUT = 120


def load_in_child(path, call="refresnet.load(path)"):
    """{kind, message, seconds, peak RSS bytes} of ``call`` on ``path`` in a limited child."""
    code = textwrap.dedent(f"""
        import json, resource, sys, time
        import refresnet
        from refresnet.io import hub
        path = {str(path)!r}
        t = time.monotonic()
        try:
            out = {call}
            kind, msg = "loaded", repr(out)[:300]
        except BaseException as e:
            kind, msg = type(e).__name__, str(e)
        secs = time.monotonic() - t
        print(json.dumps(dict(kind=kind, msg=msg, secs=secs,
                              rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)))
    """)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = dict(os.environ, PYTHONPATH=REPO, OPENBLAS_NUM_THREADS="1")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                           preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path} did not finish within {CHILD_TIMEOUT} s")
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines, (p.returncode, p.stderr[-1500:])
    return json.loads(lines[-1])


def assert_refused(path, *fragments, call="refresnet.load(path)", named=None):
    r = load_in_child(path, call)
    assert r["kind"] == "LoadError", r
    assert (named or str(path)) in r["msg"], r["msg"]
    for f in fragments:
        assert f in r["msg"], r["msg"]
    assert "internal error" not in r["msg"], r["msg"]
    assert r["secs"] < LOAD_SECONDS, r
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    assert r["rss"] < 700 * 2**20 + 4 * size, r
    return r["msg"]


# =============================================================================== ONNX
def _onnx():
    pytest.importorskip("onnx")


def test_external_data_in_a_dotfile_is_refused(tmp_path):
    _onnx()
    msg = assert_refused(mk.build("onnx_external_dotfile", tmp_path), ".ssh/id_rsa", "hidden")
    assert "OPENSSH" not in msg


def test_external_data_through_a_symlink_to_a_dotfile_is_refused(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_external_symlink_to_dotfile", tmp_path), "weights.bin", "hidden")


def test_external_location_with_a_nul_byte_is_refused(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_external_nul", tmp_path), "NUL")


def test_initializers_aliasing_one_region_are_refused(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_aliasing_initializers", tmp_path), "overlap")


def test_constant_folding_is_charged_to_the_budget(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_transpose_chain", tmp_path), "budget", "MAX_EXPANSION=16")


def test_a_huge_pad_is_refused_before_any_allocation(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_pad_bomb", tmp_path))


def test_zero_sized_dimension_with_a_huge_sibling_is_refused(tmp_path):
    _onnx()
    assert_refused(mk.build("onnx_zero_dim", tmp_path), "MAX_DIM", named="'w'")


def test_a_graph_of_more_nodes_than_any_resnet_is_refused_quickly(tmp_path):
    """Two 25,000-Relu chains joined by an Add (1.2 MB): recognition never finished on it
    (a list membership test per node); it is refused by MAX_NODES before translation."""
    _onnx()
    assert_refused(mk.build("onnx_relu_chains", tmp_path), "MAX_NODES")


def test_recognition_is_linear_in_the_graph_size():
    """The same two 25,000-node chains given to recognition directly: it returns at
    once (a branch is followed at most MAX_BRANCH_NODES back), where it was quadratic."""
    import time

    from refresnet.families import onnx as fam
    from refresnet.runtime.executor import Node

    n = 25_000
    nodes = [Node(f"{side}{k}", "relu", (f"{side}{k - 1}" if k else "input",), {}) for side in "ab" for k in range(n)]
    nodes.append(Node("y", "add", (f"a{n - 1}", f"b{n - 1}"), {}))
    t = time.monotonic()
    rec = fam.recognise(nodes, {"names": [], "notes": {}})
    assert time.monotonic() - t < 2
    assert rec.row is None and "not recognised" in rec.text


def test_a_chain_below_the_node_limit_loads_within_the_time_bound(tmp_path):
    _onnx()
    path = mk.BUILDERS["onnx_relu_chains"](str(tmp_path), n=4_000)
    r = load_in_child(path, "refresnet.load(path).arch.recognition.sentence()")
    assert r["kind"] == "loaded" and "not recognised" in r["msg"], r
    assert r["secs"] < LOAD_SECONDS, r


def test_an_add_without_a_conv_loads_unrecognised(tmp_path):
    _onnx()
    path = mk.build("onnx_add_without_conv", tmp_path)
    r = load_in_child(path, "(refresnet.load(path).arch.recognition.sentence(), "
                            "float(refresnet.load(path)(__import__('numpy').ones((1, 3, 8, 8))).sum()))")
    assert r["kind"] == "loaded" and "not recognised" in r["msg"], r
    assert "384.0" in r["msg"], r  # relu(1) + 1 = 2 at each of 3 x 8 x 8 positions, by hand


# =============================================================================== Hub configs
def test_config_json_symlink_to_proc_is_refused(tmp_path):
    path = mk.build("config_proc_symlink", tmp_path)
    assert_refused(path, "/proc", named=os.path.join(str(tmp_path), "config.json"))


def test_config_json_with_a_5000_digit_integer_is_refused(tmp_path):
    path = mk.build("config_long_int", tmp_path)
    assert_refused(path, "5000 digits", named=os.path.join(str(tmp_path), "config.json"))


@pytest.mark.parametrize("name, field", [("preprocessor_tiny_crop", "'crop_pct'"),
                                         ("preprocessor_list_resample", "'resample'")])
def test_preprocessor_config_values_out_of_range_are_refused_naming_file_and_field(tmp_path, name, field):
    path = mk.build(name, tmp_path)
    assert_refused(path, field, call="hub.read_preprocessor_config(path)",
                   named=os.path.join(str(tmp_path), "preprocessor_config.json"))


def test_the_same_through_the_preset_of_a_transformers_model(tmp_path):
    """End to end: the transformers preset reads the file beside the weights."""
    from refresnet.families.archs import ARCHS
    from refresnet.errors import LoadError
    from refresnet.families import transformers as family

    path = mk.build("preprocessor_tiny_crop", tmp_path)
    row = next(a for a in ARCHS.values() if a.naming == "transformers")
    with pytest.raises(LoadError, match="preprocessor_config.json: 'crop_pct'"):
        family._transformers_preset(row, path)


@pytest.mark.parametrize("cfg, field", [
    ({"model_type": "resnet", "depths": [3, 4, 10**6, 3]}, "'depths'"),
    ({"architecture": "resnet18", "pretrained_cfg": {"input_size": [3, 224, 2**31]}}, "'input_size' in 'pretrained_cfg'"),
    ({"architecture": "resnet18", "pretrained_cfg": {"std": [0.2, 0, 0.2]}}, "'std' in 'pretrained_cfg'"),
    ({"architecture": "resnet18", "pretrained_cfg": {"crop_pct": 5e-324}}, "'crop_pct' in 'pretrained_cfg'"),
    ({"model_type": "resnet", "embedding_size": 1.5}, "'embedding_size'"),
])
def test_config_fields_are_range_checked_naming_the_field(tmp_path, cfg, field):
    from refresnet.errors import LoadError
    from refresnet.io import hub

    weights = mk._snapshot(tmp_path, config__json=cfg)
    with pytest.raises(LoadError, match=field) as err:
        hub.read_config(weights)
    assert err.value.path == os.path.join(str(tmp_path), "config.json")


@pytest.mark.parametrize("text, words", [('{"crop_pct": NaN}', "'crop_pct': expected a finite number"),
                                         ('{"extra": {"x": [1, -Infinity]}}', "'extra.x[1]': -inf is not a finite")])
def test_nan_or_infinity_in_a_config_is_refused_naming_the_field(tmp_path, text, words):
    from refresnet.errors import LoadError
    from refresnet.io import hub

    weights = mk._snapshot(tmp_path, preprocessor_config__json=text)
    with pytest.raises(LoadError, match=words.replace("[", r"\[").replace("]", r"\]")):
        hub.read_preprocessor_config(weights)


# =============================================================================== safetensors
def test_safetensors_of_very_many_small_entries_is_refused_before_parsing(tmp_path):
    path = mk.build("st_many_entries", tmp_path)
    assert_refused(path, "MAX_TENSORS")


def test_an_image_over_the_input_side_limit_is_refused_before_the_graph_runs(tmp_path):
    """A graph with free spatial dims and a Pad at MAX_PAD: the image side is bounded
    so that no node's allocation is unbounded."""
    _onnx()
    import numpy as np
    from onnx import helper, numpy_helper

    import refresnet
    from refresnet.families.onnx import MAX_INPUT_SIDE
    from refresnet.io.onnx_file import MAX_PAD

    pads = numpy_helper.from_array(np.array([0, 0, MAX_PAD, 0, 0, 0, 0, 0], np.int64), "pads")
    model = mk._onnx_model([helper.make_node("Pad", ["x", "pads"], ["y"])], [pads], input_shape=("N", 3, "H", "W"))
    m = refresnet.load(mk._save_onnx(model, str(tmp_path), "free.onnx"))
    assert m(np.ones((1, 3, 2, 2))).shape == (1, 3, 2 + MAX_PAD, 2)
    with pytest.raises(ValueError, match="MAX_INPUT_SIDE"):
        m(np.ones((1, 1, 1, MAX_INPUT_SIDE + 1))[:, [0, 0, 0]])
