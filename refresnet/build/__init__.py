"""refresnet.build."""
