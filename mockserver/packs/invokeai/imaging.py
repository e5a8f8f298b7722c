"""Real image files with Pillow: decoding uploads, resizing, PNG storage and WebP thumbnails."""

from __future__ import annotations

import io
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
# Refuse decompression bombs instead of letting Pillow warn and go on: the mock holds images in RAM.
Image.MAX_IMAGE_PIXELS = 8192 * 8192


def read_image(upload: UploadedFile | None) -> Image.Image:
    """The uploaded file as a decoded image, or the real server's 415."""
    if upload is None or not (upload.content_type or "").startswith("image"):
        raise ApiError(415, "Not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(upload.data))
            image.load()
    except Exception:  # Pillow raises many kinds for bad bytes; all mean the same to a client
        raise ApiError(415, "Failed to read image") from None
    return image


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


def png_bytes(image: Image.Image, text: dict[str, str | None] | None = None) -> bytes:
    """The image as InvokeAI stores it: a PNG, with metadata, workflow and graph as text chunks."""
    info = PngInfo()
    for key, value in (text or {}).items():
        if value is not None:
            info.add_text(key, value)
    out = io.BytesIO()
    normalized(image).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def webp_thumbnail(data: bytes, size: int = THUMBNAIL_SIZE) -> bytes:
    """A WebP no larger than size×size, keeping the aspect ratio (never enlarged)."""
    image = Image.open(io.BytesIO(data))
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


def solid_png(width: int, height: int, color: str) -> bytes:
    return png_bytes(Image.new("RGB", (width, height), color))
