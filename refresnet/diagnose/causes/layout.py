"""Layout: a layer's activation given in the other memory layout (NHWC for NCHW
or the reverse). Found while the comparison reads the activations: the values
are compared after transposing, and the layer is reported for it."""

from .base import ANY_OP, Cause

TRANSPOSED = Cause("layout.transposed", (ANY_OP,),
                   "layout: activation is {theirs} {shape}, but {framework} gives {ours}; "
                   "values compared after transposing")

CAUSES = (TRANSPOSED,)
