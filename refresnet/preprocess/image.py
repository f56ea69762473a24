"""Opening an image as the frameworks' loaders do, safely, and the whole file ->
model input path."""

import os
import warnings

from PIL import Image

from ..errors import ImageError
from ..io import open_regular
from .pipeline import float_stage, uint8_stage


#: The image formats opened (Pillow format names), and only these: what the frameworks'
#: loaders read in practice. torchvision's ImageFolder takes .jpg .jpeg .png .ppm .bmp
#: .pgm .tif .tiff .webp (torchvision/datasets/folder.py IMG_EXTENSIONS, 0.29.1); Keras'
#: image_dataset_from_directory .bmp .gif .jpeg .jpg .png (keras/src/utils/
#: image_dataset_utils.py ALLOWLIST_FORMATS). PPM covers .pgm/.pbm; JPEG covers the MPO
#: files phone cameras write (Pillow's JPEG opener returns them as MPO). Every other Pillow plugin stays off: EPS would start
#: Ghostscript, and rarely used decoders (DDS, ...) are where crafted files break Pillow.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
#: Largest image (width x height) decoded, unless the environment variable
#: REFRESNET_MAX_IMAGE_PIXELS says otherwise or ``open_rgb(max_pixels=...)`` is given.
#: Below Pillow's own MAX_IMAGE_PIXELS (89,478,485, above which it only warns, raising
#: at twice that): 64 megapixels (8000 x 8000) decode to 192 MB of RGB, and a network
#: input is 224 x 224. Pillow's own check still applies above its limit.
MAX_IMAGE_PIXELS = 64_000_000


def max_image_pixels():
    """The pixel limit in force: REFRESNET_MAX_IMAGE_PIXELS if set, else MAX_IMAGE_PIXELS."""
    env = os.environ.get("REFRESNET_MAX_IMAGE_PIXELS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"REFRESNET_MAX_IMAGE_PIXELS={env!r} is not a whole number of pixels") from None
        if value < 1:
            raise ValueError(f"REFRESNET_MAX_IMAGE_PIXELS={env!r} must be at least 1")
        return value
    return MAX_IMAGE_PIXELS


def open_rgb(path, max_pixels=None):
    """The image as an RGB PIL image, opened as both frameworks' loaders open it
    (``Image.open`` + ``convert("RGB")``, no EXIF transpose), fully decoded so that a
    truncated file fails here. Only regular files (never a FIFO or device), only the
    IMAGE_FORMATS, at most ``max_pixels`` (default :func:`max_image_pixels`) pixels,
    checked from the header before decoding. Any problem, whatever Pillow raises,
    is an ImageError naming the file."""
    path = os.fspath(path)
    limit = max_image_pixels() if max_pixels is None else int(max_pixels)
    try:
        # Pillow warns between MAX_IMAGE_PIXELS and twice it and raises above. Both
        # frameworks go on after the warning, so do we, but say which file it was.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            with open_regular(path, error=ImageError, what="image") as f:
                img = Image.open(f, formats=IMAGE_FORMATS)
                w, h = img.size
                if w * h > limit:
                    raise ImageError(path, f"{w} x {h} = {w * h:,} pixels, over the limit of {limit:,} "
                                           "(refresnet.preprocess.MAX_IMAGE_PIXELS; raise it with the "
                                           "environment variable REFRESNET_MAX_IMAGE_PIXELS)")
                img.load()
                mode = img.mode
                rgb = img.convert("RGB") if mode != "RGB" else img.copy()
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(path, f"refused as a possible decompression bomb ({err})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, f"not an image Pillow can read in the formats refresnet opens ({', '.join(IMAGE_FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # Pillow: "image file is truncated", "broken data stream", bad headers.
        raise ImageError(path, f"damaged or truncated image ({_clip(err)})") from None
    except MemoryError:
        raise ImageError(path, "the image needs more memory than is available to decode") from None
    except Exception as err:  # noqa: BLE001 -- Pillow decoders raise anything on crafted files
        raise ImageError(path, f"damaged image: Pillow failed with {type(err).__name__}: {_clip(err)}") from None
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            warnings.warn(f"{path}: {w.message}", Image.DecompressionBombWarning, stacklevel=2)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rgb, mode


def _clip(err, n=200):
    msg = str(err)
    return msg if len(msg) <= n else msg[: n - 3] + "..."


def load_image(path, preset):
    """One image file -> float64 model input without the batch axis (CHW for the
    torchvision presets, HWC for Keras). Raises ImageError naming the file."""
    img, _ = open_rgb(path)
    return float_stage(uint8_stage(img, preset), preset)

