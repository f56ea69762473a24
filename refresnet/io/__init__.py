"""refresnet.io: reading files safely. Knows no weight family (layer 3 of the
package: above errors and runtime, below preprocess and families).

- ``FORMATS`` (``formats``): one :class:`Format` record per reader in sniff order
  (signature test, reader, what it returns: a weight dict or a graph); ``sniff(path)``
  walks it, and so does ``refresnet.load``;
- ``files``: what every reader shares (regular files only, the output Budget, guarded
  JSON, the last guard turning any exception into a LoadError);
- one module per format: ``torch_containers`` (zip, legacy and tar layouts) over
  ``torch_pickle`` (the allow-listed unpickler and its opcode scan) and
  ``torch_state_dict`` (the weights inside a checkpoint); ``safetensors_file``;
  ``keras_file`` (the Keras layouts) over ``hdf5_safe`` (HDF5 checked, no Keras);
  ``onnx_file`` (parsing and translation to runtime nodes; recognition is in
  refresnet/families/onnx.py);
- ``hub``: config.json / preprocessor_config.json, snapshots and the Hub cache;
- ``isolated``: running a reader (HDF5) in an isolated child process.
"""

from .files import Budget, guarded, load_json, open_regular, require_file  # noqa: F401  (io's surface)
from .formats import FORMATS, Format, sniff  # noqa: F401,E402
