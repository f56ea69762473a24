"""refresnet.families."""
