"""The causes compare tries on a layer that is not rounding: one module per area,
each cause a record (refresnet.diagnose.causes.base.Cause) with a stable cause_id.

``CAUSES`` holds every record in the order its alternatives are tried: layout,
BatchNorm, stride placement, padding, kernels and weights, pooling, activations,
input preprocessing (the input maps last: a fitted one explains what a named one does).
"""

from . import bn, kernel, layout, padding, pooling, preprocessing, relu, shape
from .base import ANY_OP, CAUSES, Candidate, Cause, Trial, get_cause, register

for _area in (layout, bn, shape, padding, kernel, pooling, relu, preprocessing):
    for _cause in _area.CAUSES:
        register(_cause)
del _area, _cause

__all__ = ["ANY_OP", "CAUSES", "Candidate", "Cause", "Trial", "get_cause", "register"]
