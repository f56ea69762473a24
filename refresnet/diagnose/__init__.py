"""refresnet.diagnose: how another framework's run departs from the oracle.

- compare.py: the engine (the walk over layers, rounding budgets, divergence) behind
  ``refresnet.compare``; metrics.py its measures and criterion (BUDGET_FACTOR);
  report.py the Report it returns (table, summary, JSON);
- causes/: what compare tries on a layer that is not rounding, one module per area,
  each cause a record with a stable cause_id (causes.CAUSES);
- collect.py, collect_torch.py, collect_keras.py, collect_onnx.py: a framework's
  run as {layer name: array};
- agree.py: a framework against the oracle over a whole dataset;
- plot.py: the pictures of both, behind the one matplotlib guard;
- solve.py: the small linear solve of the fitted input map.
"""
