"""Recipe audits: is a training set-up the one it claims to be? (issue 24)

``init`` tells which weight initialisation drew freshly initialised weights,
``augmentation`` what a training transform does to an image, ``schedule`` how a learning
rate schedule compares with He et al. 2015 (section 4.2). Each returns a report whose
``departures`` name what differs from the declared recipe (empty: it matches), with
``str(report)`` for people and ``report.to_dict()`` for JSON. The command line (``python -m refresnet audit init|augment|schedule``) is
refresnet/cli/audit.py.

This package sits on the diagnose floor: it imports errors, load and model from below,
never diagnose, datasets or cli.
"""

from .augment import NORMALISATIONS, RECIPES, AugmentReport, augmentation, code_image
from .lr_schedule import TABLE6, ScheduleReport, schedule
from .weights_init import SCHEMES, InitReport, TensorSample, init

__all__ = ["init", "augmentation", "schedule", "InitReport", "AugmentReport", "ScheduleReport", "TensorSample",
           "SCHEMES", "RECIPES", "NORMALISATIONS", "TABLE6", "code_image"]
