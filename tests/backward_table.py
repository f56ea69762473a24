"""The ops' backward functions under the names the gradient tests use, read from
the registry records (each function lives in its op's file, refresnet/runtime/ops/)."""

import refresnet.runtime.ops  # noqa: F401  (registers every op)
from refresnet.runtime import registry
from refresnet.runtime.ops.batch_norm import batch_statistics  # noqa: F401

BACKWARD = {name: op.backward for name, op in registry.OPS.items() if op.backward is not None}
PARAMS = {name: op.params for name, op in registry.OPS.items() if op.params}
globals().update({f"{name}_backward": fn for name, fn in BACKWARD.items()})
