"""refresnet.runtime."""
