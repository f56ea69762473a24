"""HDF5 read safely, knowing nothing of Keras: every object of a file checked (links,
external storage, virtual datasets, filters, dtypes, shapes, unwritten data,
attributes, sizes charged to the budget) before any dataset is read. The Keras
layouts on top of it are in keras_file.py (moved from there).
"""

import contextlib
import math
import zipfile

import numpy as np

from ..errors import LoadError
from .files import MAX_DIM, open_regular

#: HDF5 objects (groups and datasets) in one file: ResNet-152 has ~1,900.
MAX_H5_OBJECTS = 100_000
#: Attributes on one object, and bytes of one attribute (layer_names of ResNet-152 is
#: ~20 KB, a model_config ~0.5 MB).
MAX_H5_ATTRS = 256
MAX_H5_ATTR_BYTES = 16 * 1024 * 1024
#: HDF5 filters a Keras/h5py file may use: deflate (gzip), shuffle, fletcher32 and
#: h5py's built-in LZF (H5Zpublic.h filter ids; h5py/_hl/filters.py). Any other filter
#: would be a plugin libhdf5 loads from disk.
ALLOWED_H5_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}


def _read_array(ds, path, tensor):
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise LoadError(path, f"expected a dataset, found {type(ds).__name__}", tensor=tensor)
    if ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8):
        raise LoadError(path, f"weights must be float16/32/64, found dtype {ds.dtype}", tensor=tensor)
    try:
        return np.asarray(ds[()])
    except (OSError, ValueError, RuntimeError, TypeError) as err:
        raise LoadError(path, f"cannot read the data (truncated or damaged file?): {err}", tensor=tensor) from None


def _h5_addr(obj):
    import h5py

    return h5py.h5o.get_info(obj.id).addr


def _check_h5_tree(f, path, budget):
    """Every object of an open HDF5 file checked before any dataset is read.

    Walked from the root through links, without recursion: only hard links (a soft or
    external link, or a user-defined one, is refused: an external link reads another
    file); each object reached once (two links to one object, a cycle or a hard-link
    DAG are refused, so nothing is read twice); groups and datasets only. Each dataset:
    no external storage (it would read other files' bytes), not virtual (it maps other
    files), only the filters in ALLOWED_H5_FILTERS, a numeric dtype, dimensions up to
    MAX_DIM, data actually written (an unwritten dataset reads as its fill value: a
    4 KB file "holding" gigabytes), and its declared size charged to the budget. Each
    attribute: bounded in count and stored size.
    """
    import h5py

    seen = {_h5_addr(f): "/"}
    todo = [f]
    while todo:
        group = todo.pop()
        _check_attrs(group, path, budget)
        for name in group:
            where = f"{group.name.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise LoadError(path, f"external link to {link.filename!r}:{link.path}; refresnet never reads "
                                      "other files", tensor=where)
            if isinstance(link, h5py.SoftLink):
                raise LoadError(path, f"soft link to {link.path!r}; Keras writes only hard links", tensor=where)
            if not isinstance(link, h5py.HardLink):
                raise LoadError(path, f"link of unsupported type {type(link).__name__}", tensor=where)
            obj = group[name]
            addr = _h5_addr(obj)
            if addr in seen:
                raise LoadError(path, f"the same HDF5 object is also reached as {seen[addr]} (hard-linked twice, "
                                      "or a cycle); Keras writes each object once", tensor=where)
            seen[addr] = where
            if len(seen) > MAX_H5_OBJECTS:
                raise LoadError(path, f"more than MAX_H5_OBJECTS={MAX_H5_OBJECTS} HDF5 objects")
            if isinstance(obj, h5py.Group):
                todo.append(obj)
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(obj, path, where, budget)
                _check_attrs(obj, path, budget)
            else:
                raise LoadError(path, f"HDF5 object of unsupported kind {type(obj).__name__}", tensor=where)


def _check_dataset(ds, path, where, budget):
    import h5py

    dcpl = ds.id.get_create_plist()
    if dcpl.get_external_count():
        files = [dcpl.get_external(i)[0] for i in range(min(dcpl.get_external_count(), 3))]
        raise LoadError(path, f"dataset stored in external file(s) {files}; refresnet never reads other files",
                        tensor=where)
    if dcpl.get_layout() == h5py.h5d.VIRTUAL:
        raise LoadError(path, "virtual dataset (a mapping of other files' data); refused", tensor=where)
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_H5_FILTERS:
            raise LoadError(path, f"dataset uses HDF5 filter {code}, not one of "
                                  f"{', '.join(f'{k} ({v})' for k, v in ALLOWED_H5_FILTERS.items())}", tensor=where)
    dt = ds.dtype
    if dt.kind not in "fiub" or dt.itemsize > 8 or dt.fields is not None or dt.subdtype is not None:
        raise LoadError(path, f"dataset of non-numeric dtype {dt}; weights are numbers", tensor=where)
    shape = ds.shape or ()
    if len(shape) > 32 or any(d > MAX_DIM for d in shape):
        raise LoadError(path, f"dataset of declared shape {shape}", tensor=where)
    nbytes = math.prod(shape) * dt.itemsize
    if nbytes and ds.id.get_storage_size() == 0:
        raise LoadError(path, f"dataset of shape {shape} was never written (it would read as its fill value)",
                        tensor=where)
    budget.take(nbytes, tensor=where, what=f"dataset of declared shape {shape} ({dt})")


def _check_attrs(obj, path, budget):
    names = list(obj.attrs)
    where = obj.name
    if len(names) > MAX_H5_ATTRS:
        raise LoadError(path, f"{len(names)} attributes, more than MAX_H5_ATTRS={MAX_H5_ATTRS}", tensor=where)
    for name in names:
        aid = obj.attrs.get_id(name)
        try:
            size = aid.get_storage_size()
        except RuntimeError:  # libhdf5 reports an empty attribute's size 0 as an error
            size = 0
        if size > MAX_H5_ATTR_BYTES or (aid.shape and math.prod(aid.shape) > MAX_H5_ATTR_BYTES):
            raise LoadError(path, f"attribute {name!r} of {size:,} bytes (shape {aid.shape}), over "
                                  f"MAX_H5_ATTR_BYTES={MAX_H5_ATTR_BYTES:,}", tensor=where)
        budget.take(size, tensor=where, what=f"attribute {name!r}")


@contextlib.contextmanager
def _open_h5(source, path, what, budget):
    """An h5py.File over ``source`` (a path, opened here as a regular file, or a buffer),
    its whole tree checked by _check_h5_tree before it is handed out. libhdf5 reads
    through our file object (h5py's fileobj driver) and never opens a path itself."""
    import h5py

    with contextlib.ExitStack() as stack:
        fobj = stack.enter_context(open_regular(source)) if isinstance(source, str) else source
        try:
            f = h5py.File(fobj, "r")
        except (OSError, ValueError, RuntimeError) as err:
            raise LoadError(path, f"{what} is not a readable HDF5 file (truncated or damaged?): {err}") from None
        with f:
            _guard(_check_h5_tree, path, f, path, budget)
            yield f


def _guard(fn, path, *args):
    """Run a reader step, turning any low-level h5py/zip error into LoadError."""
    try:
        return fn(*args)
    except LoadError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError, zipfile.BadZipFile,
            NotImplementedError, EOFError) as err:  # zipfile: unknown version/method
        raise LoadError(path, f"damaged or unreadable Keras file ({type(err).__name__}: {err})") from None
