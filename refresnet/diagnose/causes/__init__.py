"""The causes compare tries on a layer that is not rounding."""
