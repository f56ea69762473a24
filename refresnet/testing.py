"""Assertions for other projects' test suites: refresnet as a golden oracle.

    from refresnet.testing import assert_matches_oracle

    def test_my_port_matches_the_oracle():
        oracle = refresnet.load("resnet50-11ad3fa6.pth")
        assert_matches_oracle(oracle, x, my_torch_model)            # float32
        assert_matches_oracle(oracle, x, my_model.half(), precision="float16")

Every compared layer must be within its emulated rounding budget (the
``compare`` criterion: BUDGET_FACTOR times what an honest computation in
``precision`` departs from float64 at that layer), instead of one atol/rtol
for the whole network, which is too tight deep in it or too loose near its input.
"""

from collections.abc import Mapping

import numpy as np

from .diagnose.collect import collect
from .diagnose.compare import compare


def assert_matches_oracle(model, x, theirs, precision="float32"):
    """Pass when ``theirs`` agrees with the oracle ``model`` on ``x`` to within
    rounding at every compared layer; else raise AssertionError with the compact
    compare report, naming the first divergence and its likely cause's
    cause_id (None when no known cause explains it) and sentence.

    theirs: the framework's output (an array: compared as the model's output
    layer), its activations ({layer name: array}), or a live torch nn.Module or
    Keras model (run on ``x`` and every layer collected). Returns the Report.
    """
    if not isinstance(theirs, Mapping) and (isinstance(theirs, np.ndarray) or hasattr(theirs, "__array__")
                                            or hasattr(theirs, "detach")):
        theirs = {model.nodes[-1].name: theirs}
    acts = collect(theirs, x)
    report = compare(model, x, acts, precision=precision)
    if not report.layers:
        raise AssertionError(f"assert_matches_oracle: no layer of {model.arch.name} to compare; "
                             f"names given: {', '.join(list(acts)[:8])}")
    if not report.ok:
        raise AssertionError(f"the framework's run departs from the oracle beyond rounding at {report.first_divergence} "
                             f"(cause_id {report.first_cause_id})\n" + report.summary())
    return report
