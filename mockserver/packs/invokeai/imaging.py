"""Real image files with Pillow: decoding uploads, resizing, PNG storage and WebP thumbnails."""

from __future__ import annotations

import io
import threading
import warnings

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mockserver.engine import jsonlimits
from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Response
from mockserver.engine.issues import ApiError

# Image names never change meaning, so InvokeAI lets clients keep every image file for a year.
CACHE_FOREVER = "max-age=31536000"
THUMBNAIL_SIZE = 256  # InvokeAI's thumbnails fit in 256×256
MAX_PIXELS = 4096 * 4096  # the largest `resize_to` InvokeAI accepts
# The largest image the mock decodes or makes, on every route and in every node: it holds images
# in memory, and a 8192×8192 RGBA picture is already 256 MB decoded. Checked from the file's
# header before any pixel is decoded (a 500 KB PNG can claim 11580×11580).
MAX_IMAGE_PIXELS = 8192 * 8192
# Pillow's own bomb check reads a process-wide setting and warns through the process-wide warning
# filters; neither is the mock's to change (it runs inside users' test processes). Its warning is
# silenced here, under one lock because `catch_warnings` is not thread-safe, and the mock's own
# limit decides.
_OPEN_LOCK = threading.Lock()


class ImageTooLarge(ValueError):
    def __init__(self, width: int, height: int, limit: int) -> None:
        super().__init__(f"{width}x{height} pixels is more than the {limit} pixels the mock decodes")
        self.width, self.height, self.limit = width, height, limit


def open_image(data: bytes, max_pixels: int | None = None) -> Image.Image:
    """The image in `data`, decoded; ImageTooLarge (before decoding) past `max_pixels` (default
    MAX_IMAGE_PIXELS), another exception for bytes that are not an image."""
    max_pixels = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # lazy: reads the header only
        except Image.DecompressionBombError:  # past twice Pillow's own limit: too large for ours too
            raise ImageTooLarge(0, 0, max_pixels) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(width, height, max_pixels)
    image.load()
    return image


def check_image_upload(upload: UploadedFile | None) -> UploadedFile:
    """The upload when it says it is an image, or the real server's 415."""
    if upload is None or not (upload.content_type or "").startswith("image"):
        raise ApiError(415, "Not an image")
    return upload


def read_image(upload: UploadedFile | None, max_pixels: int | None = None) -> Image.Image:
    """The uploaded file as a decoded image, or a 415: the real server's for bytes Pillow cannot
    read, and the same status, with the reason, for an image past the pixel limit (the real server
    answers 415 "Failed to read image" for Pillow's decompression bombs). Blocking: call it off
    the event loop."""
    upload = check_image_upload(upload)
    try:
        return open_image(upload.data, max_pixels)
    except ImageTooLarge as error:
        raise ApiError(415, f"Failed to read image: {error}") from None
    except Exception:  # Pillow raises many kinds for bad bytes; all mean the same to a client
        raise ApiError(415, "Failed to read image") from None


def parse_resize_to(text: str | None, max_depth: int = jsonlimits.DEFAULT_MAX_DEPTH) -> tuple[int, int] | None:
    """`{"width": w, "height": h}` from the upload form, or the real server's 400."""
    if text is None:
        return None
    try:
        dims = jsonlimits.loads(text, max_depth)
        width, height = _lax_int(dims["width"]), _lax_int(dims["height"])
        if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise ApiError(400, "Invalid resize_to format or size") from None
    return width, height


def _lax_int(value: object) -> int:
    """An integer as pydantic's lax mode reads one: 32, "32" or 32.0, never 32.5 or true."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        value = value.strip()
        return int(value)  # ValueError for "32.5" and "abc", as pydantic refuses them
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    raise ValueError


def prepare_upload(image: Image.Image, *, resize_to: tuple[int, int] | None, crop_visible: bool) -> Image.Image:
    if crop_visible and image.mode in ("RGBA", "LA", "PA"):
        box = image.getbbox()
        if box:
            image = image.crop(box)
    if resize_to is not None:
        image = image.convert("RGBA").resize(resize_to, Image.Resampling.LANCZOS)
    return image


def normalized(image: Image.Image) -> Image.Image:
    """A mode PNG stores as is; palette and exotic modes become RGB(A) the way InvokeAI saves them."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    return image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")


# InvokeAI saves every image with PIL's compress_level set to its `pil_compress_level`, 1 by
# default (the real server's runtime config says so): lossless, fast, somewhat larger files.
PNG_COMPRESS_LEVEL = 1


def png_bytes(image: Image.Image, text: dict[str, str | None] | None = None) -> bytes:
    """The image as InvokeAI stores it: a PNG, with metadata, workflow and graph as text chunks."""
    info = PngInfo()
    for key, value in (text or {}).items():
        if value is not None:
            info.add_text(key, value)
    out = io.BytesIO()
    normalized(image).save(out, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def webp_thumbnail(data: bytes, size: int = THUMBNAIL_SIZE) -> bytes:
    """A WebP no larger than size×size, keeping the aspect ratio (never enlarged)."""
    return thumbnail_of(open_image(data), size)


def thumbnail_of(image: Image.Image, size: int = THUMBNAIL_SIZE) -> bytes:
    """The WebP preview of a decoded image (workflow thumbnails, style presets, model images): the
    same bytes as the thumbnail of its stored PNG, without encoding that PNG first. The image is
    shrunk in place (`thumbnail` works so): give it one nobody needs afterwards."""
    image = normalized(image)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    normalized(image).save(out, format="WEBP")
    return out.getvalue()


def preview_response(data: bytes, name: str) -> Response:
    """A stored preview (WebP: a workflow thumbnail, a style preset or model image) as the real
    server's `FileResponse(media_type="image/png", filename=f"{id}.png")` sends it: labelled
    `image/png` whatever the bytes are, inline, cached for a year."""
    return Response(200, data, "image/png", {"cache-control": CACHE_FOREVER,
                                             "content-disposition": f'inline; filename="{name}.png"'})


def solid_image(width: int, height: int, color: str) -> Image.Image:
    return Image.new("RGB", (width, height), color)
