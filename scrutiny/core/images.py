"""Image intake: every accepted input becomes one RGB `PIL.Image` with a stable content hash.

Accepted: PIL images, numpy HWC uint8 (or HW grayscale), torch CHW tensors (float in [0, 1] or
uint8), file paths and raw bytes. Palette, CMYK, 16-bit, grayscale and alpha images are
converted (alpha is composited on white); anything that cannot be an image raises `ImageError`
with one line that names the problem. Like the rest of `scrutiny.core.schema`'s neighbours this module
imports nothing else from scrutiny, and it never imports torch: tensors are recognised by their
type's module and read through their own `.numpy()`.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 50_000_000
"""Decompression-bomb guard: about 50 megapixels, overridable with SCRUTINY_MAX_PIXELS."""

ImageInput = Image.Image | np.ndarray | str | os.PathLike | bytes | Any


class ImageError(ValueError):
    """The input is not a usable image. The message says why and what would work."""


def _allow_our_limit() -> None:
    """Pillow refuses images over twice its own limit (about 179 megapixels) even when
    SCRUTINY_MAX_PIXELS allows them: when ours is higher, Pillow's is raised to it (`_check_size`
    enforces ours before any pixel is decoded)."""
    if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < max_pixels():
        Image.MAX_IMAGE_PIXELS = max_pixels()


def max_pixels() -> int:
    raw = os.environ.get("SCRUTINY_MAX_PIXELS")
    if raw is None:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ImageError(
            f"SCRUTINY_MAX_PIXELS must be a whole number of pixels (e.g. 100000000), got {raw!r}"
        ) from None
    if value < 1:
        raise ImageError(f"SCRUTINY_MAX_PIXELS must be at least 1, got {value}")
    return value


def load_image(image: ImageInput, *, limit: int | None = None, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Normalise any supported input to an RGB PIL image.

    Args:
        image: PIL image, numpy array (HWC or HW, uint8), torch tensor (CHW, float in [0, 1]
            or uint8), path, or encoded bytes.
        limit: largest number of pixels accepted; defaults to `max_pixels()`.
        formats: for encoded bytes, the only file formats read (Pillow's names: "PNG", "JPEG", ...);
            None reads any Pillow knows. A service taking bytes from a network names a few.
    """
    limit = max_pixels() if limit is None else limit
    if isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, (str, os.PathLike)):
        pil = _open_path(Path(image), limit)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        pil = _open_bytes(bytes(image), "<bytes>", limit, formats)
    elif isinstance(image, np.ndarray):
        pil = _from_array(image)
    elif type(image).__module__.startswith("torch"):
        pil = _from_tensor(image)
    else:
        raise ImageError(
            f"cannot read an image from a {type(image).__name__}; pass a PIL image, a numpy "
            "HWC uint8 array, a torch CHW tensor, a file path or encoded bytes"
        )
    _check_size(pil.width, pil.height, limit)
    return _to_rgb(pil)


def working_copy(image: Image.Image, max_side: int | None) -> Image.Image:
    """The image shrunk (area-averaged) so that its longer side is at most `max_side` pixels; the image
    itself when it fits (or `max_side` is None). Judging works on this copy: tools cost time and memory
    in proportion to pixels, and none reads finer detail than a 2048-pixel copy keeps."""
    if max_side is None or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def image_hash(image: Image.Image) -> str:
    """Content hash of an RGB image: the same pixels always give the same id, whatever the file."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(pixels(image) if image.mode == "RGB" else image.tobytes())
    return digest.hexdigest()


_SHARED: contextvars.ContextVar[dict[int, tuple[Image.Image, np.ndarray]] | None] = contextvars.ContextVar(
    "scrutiny_shared_pixels", default=None
)
_SHARED_LOCK = threading.Lock()
STRIP_ROWS = 256
WHOLE_PIXELS = 2**20
"""Up to this many pixels (1024 a side) an image's array is made at once (`pixels`)."""


@contextlib.contextmanager
def shared_pixels() -> Iterator[None]:
    """Within this block (a judgment: its intake, its graph, the tools its threads run, which all copy
    the context), `pixels` makes each image's array once and hands the same one to every reader. The
    images are not to change in place meanwhile; outside such a block nothing is kept, so an image a
    user draws on between two judgments is read afresh."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def pixels(image: Image.Image) -> np.ndarray:
    """An image's pixels as a read-only [H, W, 3] uint8 RGB array (other modes converted).

    A large image's is made a strip of rows at a time: numpy's own conversion holds two copies of the
    image at once (6 bytes a pixel); up to `WHOLE_PIXELS` that is a few megabytes, and the conversion
    at once is some seven times faster than in strips. Within `shared_pixels` it is made once per image
    for all of a judgment's readers."""
    if image.mode != "RGB":
        return np.asarray(image.convert("RGB"))
    shared = _SHARED.get()
    if shared is not None:
        with _SHARED_LOCK:
            known = shared.get(id(image))
        if known is not None and known[0] is image:
            return known[1]
    if image.width * image.height <= WHOLE_PIXELS:
        array = np.asarray(image)
    else:
        array = np.empty((image.height, image.width, 3), np.uint8)
        for top in range(0, image.height, STRIP_ROWS):
            bottom = min(top + STRIP_ROWS, image.height)
            array[top:bottom] = np.asarray(image.crop((0, top, image.width, bottom)))
    array.flags.writeable = False
    if shared is not None:
        with _SHARED_LOCK:  # the image is kept with its array: its id is not reused meanwhile
            array = shared.setdefault(id(image), (image, array))[1]
    return array


class _Encodings:
    """Encoded images by content hash, least recently used first out, within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes | str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes | str) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes and len(self._items) > 1:
                self._size -= len(self._items.popitem(last=False)[1])


_PNG = _Encodings(96 * 2**20)
_DATA_URLS = _Encodings(128 * 2**20)


FAST_PNG_PIXELS = 2**21
"""Above this many pixels (about 1450 a side) Pillow encodes: OpenCV's encoder needs a BGR copy of the
image and its whole output in memory at once, which at 2048 a side cost some 35 MB more at its peak."""


def fast_png(image: Image.Image) -> bytes:
    """The image as a lossless PNG made for speed: zlib level 1 with run-length matching over rows
    filtered by the row above (OpenCV's libpng). About a third of Pillow's time at its fastest level
    for a 512-px photo-like image, and a little smaller; any PNG reader reads it. Other modes than
    RGB, images over `FAST_PNG_PIXELS` (and a missing OpenCV) go through Pillow."""
    try:
        import cv2
    except ImportError:  # opencv-python is a core dependency; this keeps the module importable alone
        cv2 = None
    if cv2 is None or image.mode != "RGB" or image.width * image.height > FAST_PNG_PIXELS:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()
    options = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    options += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, data = cv2.imencode(".png", cv2.cvtColor(pixels(image), cv2.COLOR_RGB2BGR), options)
    if not ok:
        raise ImageError(f"could not encode a {image.width}x{image.height} image as PNG")
    return data.tobytes()


def png_bytes(image: Image.Image, digest: str | None = None) -> bytes:
    """The image as a fast PNG (`fast_png`), encoded once per content hash.

    A judgment needs the same encoding twice or more: as a data URL in every model request and
    as the artifact file in the store. The cache is keyed by the pixels' hash (pass it when it is
    known), so an image changed in place is encoded again.
    """
    digest = digest or image_hash(image)
    data = _PNG.get(digest)
    if data is None:
        data = fast_png(image)
        _PNG.put(digest, data)
    return data


def data_url(image: Image.Image, digest: str | None = None) -> str:
    """`data:image/png;base64,...` for a model request, made once per content hash."""
    digest = digest or image_hash(image)
    url = _DATA_URLS.get(digest)
    if url is None:
        url = "data:image/png;base64," + base64.b64encode(png_bytes(image, digest)).decode()
        _DATA_URLS.put(digest, url)
    return url


def to_png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _check_size(width: int, height: int, limit: int) -> None:
    if width == 0 or height == 0:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width * height > limit:
        raise ImageError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "(a decompression-bomb guard); raise SCRUTINY_MAX_PIXELS if this image is genuine"
        )


def _open_path(path: Path, limit: int) -> Image.Image:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    return _open_bytes(path.read_bytes(), str(path), limit)


def _open_bytes(data: bytes, name: str, limit: int, formats: tuple[str, ...] | None = None) -> Image.Image:
    _allow_our_limit()
    if not data:
        raise ImageError(f"{name}: empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is ours (below), not Pillow's
            pil = Image.open(io.BytesIO(data), formats=list(formats) if formats else None)
            _check_size(pil.width, pil.height, limit)
            pil.load()
    except UnidentifiedImageError:
        known = f"a {', '.join(formats[:-1])} or {formats[-1]} image" if formats and len(formats) > 1 else None
        raise ImageError(f"{name}: not {known or 'an image file (no known image format)'}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{name}: image is over the limit of {limit:,} pixels (a decompression-bomb guard); "
            "raise SCRUTINY_MAX_PIXELS if this image is genuine"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageError):
            raise ImageError(f"{name}: {e}") from None
        raise ImageError(f"{name}: unreadable or truncated image ({e})") from None
    return ImageOps.exif_transpose(pil)


def _to_rgb(pil: Image.Image) -> Image.Image:
    if pil.mode == "RGB":
        return pil
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit and 32-bit integer grayscale: scale to 8 bits instead of clipping at 255.
        array = np.asarray(pil, dtype=np.float64)
        top = 65535.0 if pil.mode.startswith("I;16") or array.max() > 255 else 255.0
        pil = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if pil.mode == "F":
        pil = Image.fromarray(np.clip(np.asarray(pil) * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if pil.mode == "P":
        pil = pil.convert("RGBA")
    if pil.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return pil.convert("RGB")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"numpy image must be HxW or HxWx3/4 (channels last); got shape {tuple(array.shape)}")
    if array.dtype != np.uint8:
        array = _float_to_uint8(array, "numpy array")
    return Image.fromarray(np.ascontiguousarray(array))


def _from_tensor(tensor: Any) -> Image.Image:
    tensor = tensor.detach().cpu()
    if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16 (SD3 and FLUX decode in it)
        tensor = tensor.float()
    array = tensor.numpy()
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[0] not in (1, 3, 4):
        raise ImageError(
            f"torch image must be CxHxW with 1, 3 or 4 channels; got shape {tuple(array.shape)} "
            "(pass batches one image at a time)"
        )
    array = np.moveaxis(array, 0, -1)
    if array.dtype != np.uint8:
        array = _float_to_uint8(array, "torch tensor")
    return _from_array(array)


def _float_to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise ImageError(f"{what} has dtype {array.dtype}; expected uint8 or float in [0, 1]")
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ImageError(f"integer {what} must hold values in [0, 255]; got [{low}, {high}]")
        return array.astype(np.uint8)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ImageError(f"{what} contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ImageError(
            f"float {what} must hold values in [0, 1]; got range [{low:.3g}, {high:.3g}] "
            "(scale [-1, 1] outputs with x / 2 + 0.5, or pass uint8)"
        )
    return (array * 255.0 + 0.5).astype(np.uint8)
