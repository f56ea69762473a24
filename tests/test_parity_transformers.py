"""transformers ResNetForImageClassification (basic, bottleneck, stride in the first 1x1 and a strided first stage) against transformers
5.24.0's own float64 outputs at 224x224 and the odd 193x171, on every traced
module (tests/fixtures/make_hub_fixtures.py); no transformers needed."""

import pytest

from fixtures import hub_fixture as hf
from fixtures import tv_fixture as tv
from hub_parity import check_parity

KEYS = [k for k, s in hf.PARITY.items() if s["lib"] == "transformers"]
BIG = {"transformers_resnet-50"}


@pytest.mark.parametrize("key, prefix", [
    pytest.param(k, p, id=f"{k}-{p.strip('s/')}", marks=[pytest.mark.slow] if k in BIG else [])
    for k in KEYS for p, _, _ in tv.SIZES])
def test_matches_transformers_float64_on_every_layer(key, prefix):
    check_parity(key, prefix)
