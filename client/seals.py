"""Electronic seal images (电子印章): read a seal's PNG, and the two digests the seal
registry (chaincode/sources/SealRegistry.vy) keeps of it.

- The seal's id is the SHA-256 of the image *file*, what `ledger seal approve 0x…` names.
- Its pixel digest is what a signed PDF can be checked against: a PDF carries the image
  re-encoded (an image XObject with its alpha as a soft mask), never the PNG file, so
  `verify-pdf` decodes the drawn image back to pixels and compares this digest:

      SHA-256( "evidence-ledger/seal-pixels/v1" ‖ 0x00 ‖ width (4 bytes, big-endian)
               ‖ height (4 bytes, big-endian) ‖ the pixels as 8-bit RGBA, row by row )

Only PNG is accepted: it is lossless, so the pixels a viewer draws are exactly the file's.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from client.errors import ClientError

PIXEL_DOMAIN = b"evidence-ledger/seal-pixels/v1\x00"
# A seal scan or drawing is tens of kilobytes; a file past 1 MiB is not a seal, and the
# PNG decoder is not handed attacker-sized input.
MAX_SEAL_FILE_BYTES = 1024 * 1024
# Pixels per side: a 40 mm seal at 600 dpi is 945 px. 1024 bounds the decoded RGBA at
# 4 MiB (PNG's compression could otherwise expand a small file into gigabytes).
MAX_SEAL_SIDE = 1024


class SealImageError(ClientError, ValueError):
    """A file that cannot be a seal image, with the reason."""


@dataclass(frozen=True)
class SealImage:
    """A seal image as registered: the file, its pixels and both digests."""

    data: bytes          # the PNG file
    width: int
    height: int
    rgba: bytes          # width * height * 4 bytes, row by row
    digest: bytes        # SHA-256 of the file: the seal's id on chain
    pixel_digest: bytes  # pixel_digest(width, height, rgba)

    @property
    def rgb(self) -> bytes:
        """The colour samples without alpha (a PDF image's /DeviceRGB data)."""
        out = bytearray(self.width * self.height * 3)
        out[0::3], out[1::3], out[2::3] = self.rgba[0::4], self.rgba[1::4], self.rgba[2::4]
        return bytes(out)

    @property
    def alpha(self) -> bytes:
        """The alpha samples (a PDF soft mask's /DeviceGray data)."""
        return self.rgba[3::4]


def pixel_digest(width: int, height: int, rgba: bytes) -> bytes:
    """The seal registry's digest of an image's pixels (module docstring)."""
    if len(rgba) != width * height * 4:
        raise SealImageError(f"{len(rgba)} bytes of RGBA for a {width}x{height} image")
    return hashlib.sha256(PIXEL_DOMAIN + width.to_bytes(4, "big") + height.to_bytes(4, "big") + rgba).digest()


def rgba_from_planes(width: int, height: int, rgb: bytes, alpha: bytes | None) -> bytes:
    """RGBA pixels from a PDF image's colour samples and its soft mask (opaque if none)."""
    count = width * height
    if len(rgb) != count * 3 or (alpha is not None and len(alpha) != count):
        raise SealImageError(f"the image's samples do not fill {width}x{height} pixels")
    out = bytearray(count * 4)
    out[0::4], out[1::4], out[2::4] = rgb[0::3], rgb[1::3], rgb[2::3]
    out[3::4] = alpha if alpha is not None else b"\xff" * count
    return bytes(out)


def load_seal_image(data: bytes) -> SealImage:
    """Parse a seal's PNG file; raises SealImageError naming what is wrong."""
    if len(data) > MAX_SEAL_FILE_BYTES:
        raise SealImageError(f"a seal image of {len(data)} bytes exceeds {MAX_SEAL_FILE_BYTES}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise SealImageError(f"a seal image must be a PNG file, not {image.format or 'this format'}")
            width, height = image.size  # read from the header, before any pixel is decoded
            if not (0 < width <= MAX_SEAL_SIDE and 0 < height <= MAX_SEAL_SIDE):
                raise SealImageError(f"a seal image of {width}x{height} pixels exceeds {MAX_SEAL_SIDE} per side")
            rgba = image.convert("RGBA").tobytes()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, SealImageError):
            raise
        raise SealImageError(f"not a readable PNG image: {exc}") from exc
    return SealImage(data=data, width=width, height=height, rgba=rgba, digest=hashlib.sha256(data).digest(),
                     pixel_digest=pixel_digest(width, height, rgba))
