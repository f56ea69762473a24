"""refresnet.io: reading files safely. Knows no weight family (layer 3 of the
package: above errors and runtime, below preprocess and families).

- ``files``: what every reader shares (regular files only, the output Budget, guarded
  JSON, the last guard turning any exception into a LoadError);
- one module per format: ``torch_containers`` (with ``torch_pickle`` and
  ``torch_state_dict``), ``safetensors_file``, ``keras_file``, ``onnx_file``;
- ``isolated``: running a reader (HDF5) in a child process.
"""

from .files import Budget, guarded, load_json, open_regular, require_file  # noqa: F401  (io's surface)
