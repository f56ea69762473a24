"""refresnet.diagnose."""
