"""refresnet.audit.init: the scheme of freshly initialised weights.

Evidence: tests/fixtures/audit/init_*.npz, real torch / torchvision / Keras modules built
under each scheme, 20 seeds each (tests/fixtures/make_audit_fixtures.py says what is kept
and why it suffices). Expected stds below are the formulas of the frameworks' source,
worked by hand."""

import math
import time

import numpy as np
import pytest

from audit_fixtures import init_files, load_init
from refresnet import audit
from refresnet.audit.weights_init import SCHEMES, TRUNC_STD
from refresnet.errors import LoadError

FILES = init_files()


def test_every_framework_arch_and_scheme_was_recorded():
    want = {f"init_torch_{a}_{s}.npz" for a in ("resnet20", "resnet56", "resnet18")
            for s in ("torchvision-fan-out", "fan-in-normal", "torch-default", "torchvision-fan-out+zero-init-residual")}
    want |= {f"init_keras_{a}_{s}.npz" for a in ("resnet20", "resnet56") for s in ("keras-glorot-uniform", "keras-he-normal")}
    want.add("init_keras_resnet50_keras-glorot-uniform.npz")
    assert want <= set(FILES), sorted(want - set(FILES))


def test_scheme_identified_in_at_least_99_percent_of_real_modules():
    cases = wrong = 0
    misses = []
    for name in FILES:
        meta, seeds = load_init(name)
        for s, weights in enumerate(seeds):
            r = audit.init(weights, expect=meta["scheme"])
            cases += 1
            if not r.ok:
                wrong += 1
                misses.append((name, s, r.scheme, [d["id"] for d in r.departures]))
    assert cases >= 17 * 20
    assert wrong <= 0.01 * cases, misses


@pytest.mark.parametrize("name", [f for f in FILES if "zero-init" not in f])
def test_each_recording_is_told_from_every_other_scheme(name):
    # the same weights audited against each wrong scheme depart, naming init.scheme
    meta, seeds = load_init(name)
    for other in SCHEMES:
        if other == meta["scheme"]:
            continue
        r = audit.init(seeds[0], expect=other)
        assert "init.scheme" in [d["id"] for d in r.departures], (other, r.scheme)


def test_zero_init_residual_gammas_found_and_required():
    meta, seeds = load_init("init_torch_resnet18_torchvision-fan-out+zero-init-residual.npz")
    r = audit.init(seeds[0], expect="torchvision-fan-out")
    assert r.zero_init_residual and r.scheme == "torchvision-fan-out"
    assert [d["id"] for d in r.departures] == ["init.zero_init_residual"]
    # torchvision resnet.py:218-223 zeroes bn2 of every BasicBlock, and only those
    assert r.zero_gammas and all(n.endswith("bn2.weight") for n in r.zero_gammas)
    meta, seeds = load_init("init_torch_resnet18_torchvision-fan-out.npz")
    r = audit.init(seeds[0], expect="torchvision-fan-out+zero-init-residual")
    assert [d["id"] for d in r.departures] == ["init.zero_init_residual"]


def test_heads_reported_separately_as_the_recipes_initialise_them():
    # torchvision leaves fc at torch's default (resnet.py:208-213 touches Conv2d and BN only);
    # the CIFAR code's kaiming_normal_ covers the Linear too
    _, seeds = load_init("init_torch_resnet18_torchvision-fan-out.npz")
    assert [h["scheme"] for h in audit.init(seeds[0]).heads] == ["torch-default"]
    _, seeds = load_init("init_torch_resnet20_fan-in-normal.npz")
    assert [h["scheme"] for h in audit.init(seeds[0]).heads] == ["fan-in-normal"]
    _, seeds = load_init("init_keras_resnet20_keras-he-normal.npz")
    assert [h["scheme"] for h in audit.init(seeds[0]).heads] == ["keras-he-normal"]


def test_scaled_weights_fit_no_scheme():
    # 1.3 x torchvision's draws: a std no scheme gives to these layers
    _, seeds = load_init("init_torch_resnet20_torchvision-fan-out.npz")
    scaled = {k: audit.TensorSample(v.shape, v.values * 1.3) for k, v in seeds[0].items()}
    r = audit.init(scaled, expect="torchvision-fan-out")
    assert r.scheme is None and [d["id"] for d in r.departures] == ["init.no_scheme_fits"]


def test_expected_stds_are_the_frameworks_formulas_by_hand():
    # a CIFAR stem, torch layout (16, 3, 3, 3): fan_in = 3*9 = 27, fan_out = 16*9 = 144
    fi, fo = 27, 144
    assert SCHEMES["torchvision-fan-out"].std(fi, fo) == pytest.approx(math.sqrt(2 / 144), rel=1e-15)
    assert SCHEMES["fan-in-normal"].std(fi, fo) == pytest.approx(math.sqrt(2 / 27), rel=1e-15)
    # kaiming_uniform_(a=sqrt 5): gain sqrt(2/6), bound gain*sqrt(3/27) = 1/sqrt(27) = 1/(3 sqrt 3)
    assert SCHEMES["torch-default"].bound(fi, fo) == pytest.approx(1 / math.sqrt(27), rel=1e-15)
    assert SCHEMES["fan-in-normal"].std(fi, fo) / SCHEMES["torch-default"].std(fi, fo) == pytest.approx(math.sqrt(6))
    # glorot_uniform: limit sqrt(6 / (27 + 144))
    assert SCHEMES["keras-glorot-uniform"].bound(fi, fo) == pytest.approx(math.sqrt(6 / 171), rel=1e-15)
    # he_normal: stddev sqrt(2/27)/.8796..., cut at 2 stddev; the kept values' std is sqrt(2/27)
    assert SCHEMES["keras-he-normal"].bound(fi, fo) == pytest.approx(2 * math.sqrt(2 / 27) / 0.87962566103423978)
    # .8796... is the std of a standard normal cut at +-2 (1 - 4 phi(2) / erf(sqrt 2))
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    assert TRUNC_STD == pytest.approx(math.sqrt(1 - 4 * phi2 / math.erf(math.sqrt(2))), rel=1e-15)


def test_keras_and_torch_layouts_give_the_same_fans():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * math.sqrt(2 / 144)
    torch_r = audit.init({"c.weight": w})
    keras_r = audit.init({"c/kernel": w.transpose(2, 3, 1, 0)})
    for r in (torch_r, keras_r):
        assert (r.layers[0]["fan_in"], r.layers[0]["fan_out"]) == (144, 288)
    assert torch_r.layers[0]["std"] == pytest.approx(keras_r.layers[0]["std"], rel=1e-15)


def _write_safetensors(path, tensors):
    import json
    import struct

    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        data = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _plain(report):
    d = report.to_dict()
    d.pop("source")
    return d


def test_file_model_module_and_dict_routes_agree(tmp_path):
    from refresnet.build.synthetic import synthetic_weights

    weights = {k: np.asarray(v, np.float32) for k, v in synthetic_weights("cifar_resnet20", seed=1, calibrate=False).items()}
    base = audit.init(weights)
    path = tmp_path / "w.safetensors"
    _write_safetensors(path, weights)
    assert _plain(audit.init(str(path))) == _plain(base)

    class Module:  # what audit.init reads of a torch nn.Module
        def state_dict(self):
            return weights

    assert _plain(audit.init(Module())) == _plain(base)
    model = __import__("refresnet").build("cifar_resnet20", {k: v.astype(np.float64) for k, v in weights.items()})
    via_model = audit.init(model)
    assert [r["std"] for r in via_model.layers] == pytest.approx([r["std"] for r in base.layers], rel=1e-12)


def test_bad_inputs_name_what_is_wrong(tmp_path):
    with pytest.raises(LoadError, match="no convolution weights"):
        audit.init({"fc.weight": np.ones((3, 4), np.float32)})
    with pytest.raises(ValueError, match="unknown initialisation scheme 'kaiming'; expected one of"):
        audit.init({"c.weight": np.ones((2, 2, 3, 3), np.float32)}, expect="kaiming")
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a weight file")
    with pytest.raises(LoadError, match="x.pth"):
        audit.init(str(bad))
    with pytest.raises(TypeError, match="expects a weight file path"):
        audit.init(3.0)


def test_full_size_resnet50_audit_under_30_seconds():
    # 23.5M conv weights in ResNet-50's shapes, the whole model (no subsampling)
    from refresnet.build.synthetic import synthetic_weights

    shapes = {k: np.shape(v) for k, v in synthetic_weights("resnet50", seed=0, calibrate=False).items()}
    rng = np.random.default_rng(0)
    weights = {}
    for k, sh in shapes.items():
        if len(sh) == 4:
            weights[k] = (rng.standard_normal(sh, dtype=np.float32) * np.float32(math.sqrt(2 / (sh[0] * sh[2] * sh[3]))))
    t = time.process_time()  # CPU seconds, not wall time: the machine is shared
    r = audit.init(weights, expect="torchvision-fan-out")
    assert time.process_time() - t < 30
    assert r.ok, r.departures


def test_report_text_and_dict():
    _, seeds = load_init("init_keras_resnet20_keras-he-normal.npz")
    r = audit.init(seeds[0], expect="keras-he-normal")
    text = str(r)
    assert "scheme: keras-he-normal" in text and "verdict: matches keras-he-normal" in text
    d = r.to_dict()
    # no value beyond Keras's cut in any of the ~900 conv values: normals would have put ~2% there
    assert d["ok"] and d["scheme"] == "keras-he-normal" and d["truncation_p"] < 1e-6
    assert all(row["beyond_keras_cut"] == 0 for row in d["layers"])
    _, seeds = load_init("init_torch_resnet20_fan-in-normal.npz")
    d = audit.init(seeds[0]).to_dict()
    assert d["truncation_p"] == 1.0 and sum(row["beyond_keras_cut"] for row in d["layers"]) > 0
