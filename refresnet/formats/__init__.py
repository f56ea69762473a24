"""Readers of the weight files refresnet accepts. Each returns plain NumPy arrays;
none of them executes anything from a file."""
