"""Electronic seal images (电子印章): read a seal's PNG, and the two digests the seal
registry (chaincode/sources/SealRegistry.vy) keeps of it.

- The seal's id is the SHA-256 of the image *file*, what `ledger seal approve 0x…` names.
- Its pixel digest is what a signed PDF can be checked against: a PDF carries the image
  re-encoded (an image XObject with its alpha as a soft mask), never the PNG file, so
  `verify-pdf` decodes the drawn image back to pixels and compares this digest:

      SHA-256( "evidence-ledger/seal-pixels/v1" ‖ 0x00 ‖ width (4 bytes, big-endian)
               ‖ height (4 bytes, big-endian) ‖ the pixels as 8-bit RGBA, row by row )

  "The pixels" are the PNG's samples expanded to RGBA as the PNG specification decodes
  them, with no gamma or colour-profile correction: grey g → (g, g, g); a palette index →
  its PLTE colour; alpha from the alpha channel, else from tRNS (a colour or grey equal
  to tRNS's → 0, a palette index → tRNS's entry, 255 past its end), else 255; samples
  of 1, 2 or 4 bits scaled to 8 by v × 255 / (2^bits − 1). Files with 16-bit samples are
  refused, so no rounding rule is needed.

Only PNG is accepted: it is lossless, so the pixels a viewer draws are exactly the file's.
docs/seals.md specifies both digests for a second implementation, with a test vector.

`draw_seal` makes a round red official seal (公章) for organisations without a scanned
one: deterministic, so the same arguments give the same file (and so the same id) on the
same Pillow, FreeType and zlib; the registered file, not its recipe, is what counts.
"""
from __future__ import annotations

import hashlib
import io
import math
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from chaincode import MAX_SEAL_NAME
from client.errors import ClientError

PIXEL_DOMAIN = b"evidence-ledger/seal-pixels/v1\x00"
# A seal scan or drawing is tens of kilobytes; a file past 1 MiB is not a seal, and the
# PNG decoder is not handed attacker-sized input.
MAX_SEAL_FILE_BYTES = 1024 * 1024
# Pixels per side: a 40 mm seal at 600 dpi is 945 px. 1024 bounds the decoded RGBA at
# 4 MiB (PNG's compression could otherwise expand a small file into gigabytes).
MAX_SEAL_SIDE = 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG's first chunk is IHDR, at a fixed place (PNG spec 5.2, 11.2.2): its length (13) and
# type at bytes 8..16, width and height at 16..24, bit depth at 24. Read from there, a
# bomb is refused before Pillow opens the file at all (Pillow's own guard warns at 89
# million pixels and raises its DecompressionBombError, outside our error family, at 179
# million).
IHDR_HEADER = struct.pack(">I", 13) + b"IHDR"
IHDR_SIZE = slice(16, 24)
IHDR_BIT_DEPTH = 24
# Pillow reads a 16-bit grey PNG as 16-bit integers and clips them to 255 when it makes
# RGBA (a mid-grey becomes white): the digest would not be of the pixels a viewer draws.
# Seals are 8-bit pictures; 16-bit files are refused rather than given a rounding rule.
MAX_BIT_DEPTH = 8


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


def _check_side(width: int, height: int) -> None:
    if not (0 < width <= MAX_SEAL_SIDE and 0 < height <= MAX_SEAL_SIDE):
        raise SealImageError(f"a seal image of {width}x{height} pixels: a seal is 1 to {MAX_SEAL_SIDE} pixels per side")


def load_seal_image(data: bytes) -> SealImage:
    """Parse a seal's PNG file; raises SealImageError naming what is wrong."""
    # 1. The file's size, before anything reads it.
    if len(data) > MAX_SEAL_FILE_BYTES:
        raise SealImageError(f"a seal image of {len(data)} bytes exceeds {MAX_SEAL_FILE_BYTES}")
    # 2. A PNG's header (IHDR): its dimensions and bit depth, before a decoder sees the file.
    if data.startswith(PNG_SIGNATURE):
        if data[len(PNG_SIGNATURE):IHDR_SIZE.start] != IHDR_HEADER or len(data) <= IHDR_BIT_DEPTH:
            raise SealImageError("not a readable PNG image: its first chunk is not an IHDR header")
        _check_side(*struct.unpack(">II", data[IHDR_SIZE]))
        if data[IHDR_BIT_DEPTH] > MAX_BIT_DEPTH:
            raise SealImageError(f"a seal image with {data[IHDR_BIT_DEPTH]}-bit samples: save it with "
                                 f"{MAX_BIT_DEPTH}-bit samples")
    try:
        with Image.open(io.BytesIO(data)) as image:
            # 3. The format: PNG only (lossless), one frame.
            if image.format != "PNG":
                raise SealImageError(f"a seal image must be a PNG file, not {image.format or 'this format'}")
            if getattr(image, "is_animated", False):
                # A browser plays an APNG's frames; the pixel digest would cover one of them.
                raise SealImageError(f"a seal image must be one still picture, not an animated PNG of "
                                     f"{getattr(image, 'n_frames', '?')} frames")
            # 4. The dimensions as the decoder reads them (the same IHDR, checked again), then the pixels.
            width, height = image.size
            _check_side(width, height)
            rgba = image.convert("RGBA").tobytes()
    except Image.DecompressionBombError as exc:  # another format's header claiming too many pixels
        raise SealImageError(f"a seal image's header claims too many pixels (a seal is 1 to {MAX_SEAL_SIDE} pixels "
                             f"per side): {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, SealImageError):
            raise
        raise SealImageError(f"not a readable PNG image: {exc}") from exc
    return SealImage(data=data, width=width, height=height, rgba=rgba, digest=hashlib.sha256(data).digest(),
                     pixel_digest=pixel_digest(width, height, rgba))


# -- drawing an official seal ---------------------------------------------------------------

SEAL_RED = (230, 0, 18)  # #E60012, the red of seal ink (印泥) as printed
FONT_FILE = Path(__file__).with_name("fonts") / "wqy-microhei.ttc"
FONT_INDEX = 0  # WenQuanYi Micro Hei (index 1 is its monospaced face)
# 472 px is a 40 mm seal at 300 dpi, the size of an organisation's 公章.
DEFAULT_SEAL_SIDE = 472
# Below 96 px the name's characters cannot be told apart; MAX_SEAL_SIDE is what loads back.
MIN_DRAWN_SIDE = 96
# The registry's name is a Vyper String[128]: 128 bytes of UTF-8 (42 CJK characters).
MAX_SEAL_NAME_BYTES = MAX_SEAL_NAME
# A seal code is a short identifier (China's 印章编码 has 13 digits); a line longer than
# this does not fit under the star at a readable size.
MAX_SEAL_CODE_CHARS = 32
# Everything is drawn at 4x and reduced by averaging 4x4 blocks: smooth edges from
# ImageDraw, which does not anti-alias, and the same bytes every time.
SUPERSAMPLE = 4
# PNG encoder settings fixed so the file, and so the seal's id, depends only on the arguments.
PNG_COMPRESS_LEVEL = 9

# Layout, as fractions of the side: the proportions of a round 40 mm official seal.
_MARGIN = 0.02        # transparent border: the ring's smoothed edge stays inside the picture
_RING = 0.04          # the ring's width (1.6 mm of 40)
_GAP = 0.025          # between the ring and the name
_NAME_FONT = 0.13     # the name's characters, before shrinking to fit the arc
_MIN_NAME_FONT = 0.045  # smaller than this (21 px at 472) a name is refused, not drawn illegibly
_TRACKING = 0.12      # space between characters, as a fraction of the font size
_STAR = 0.17          # the star's outer radius
_STAR_INNER = math.sin(math.radians(18)) / math.sin(math.radians(54))  # a regular pentagram's
_CODE_FONT = 0.055
_MIN_CODE_FONT = 0.03   # likewise for the code line
_CODE_DROP = 0.08     # from the star's lower points down to the code line's centre
# The name spans at most 240 degrees of the upper arc, centred on the top (past that it
# would run into the code line); a short name is spread over up to 36 degrees a character
# (180 at most), so that two or three characters still read as an arc, not a word.
_MAX_NAME_SPAN = math.radians(240)
_SPREAD_PER_CHAR = math.radians(36)
_MAX_SPREAD = math.radians(180)


def _font(size: int) -> ImageFont.FreeTypeFont:
    # The basic layout engine: with or without libraqm installed, the same glyph positions.
    return ImageFont.truetype(str(FONT_FILE), size, index=FONT_INDEX, layout_engine=ImageFont.Layout.BASIC)


def _check_text(text: str, what: str) -> None:
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise SealImageError(f"the seal's {what} contains a control or unassigned character")


def _name_layout(name: str, side: int) -> tuple[ImageFont.FreeTypeFont, float, list[float]]:
    """The name's font, the radius its characters' centres sit on, and each character's
    angle (radians clockwise from the top): shrunk until the name fits the arc."""
    outer = side / 2 - _MARGIN * side - _RING * side - _GAP * side
    size = round(_NAME_FONT * side)
    while True:
        font = _font(size)
        radius = outer - size / 2
        advances = [font.getlength(ch) for ch in name]
        tracking = _TRACKING * size
        natural = (sum(advances) + tracking * (len(name) - 1)) / radius
        if natural <= _MAX_NAME_SPAN:
            break
        smaller = min(size - 1, math.floor(size * _MAX_NAME_SPAN / natural))
        if smaller < _MIN_NAME_FONT * side:
            raise SealImageError(f"the seal's name of {len(name)} characters does not fit the upper arc of a "
                                 f"{side // SUPERSAMPLE} px seal at a readable size; draw a larger seal (--size)")
        size = smaller
    span = max(natural, min(_MAX_SPREAD, _SPREAD_PER_CHAR * len(name))) if len(name) > 1 else natural
    extra = (span - natural) * radius / (len(name) - 1) if len(name) > 1 else 0.0
    angles, along = [], -span * radius / 2
    for advance in advances:
        angles.append((along + advance / 2) / radius)
        along += advance + tracking + extra
    return font, radius, angles


def _draw_name(mask: Image.Image, name: str) -> None:
    side = mask.width
    font, radius, angles = _name_layout(name, side)
    half = round(font.size)
    tile_side = 2 * half  # a glyph centred in it stays inside at any rotation
    centre = side / 2
    for ch, angle in zip(name, angles):
        tile = Image.new("L", (tile_side, tile_side), 0)
        ImageDraw.Draw(tile).text((half, half), ch, font=font, fill=255, anchor="mm")
        # The glyph's top faces outward: turned clockwise by its angle (rotate() turns anticlockwise).
        tile = tile.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        x = centre + radius * math.sin(angle) - half
        y = centre - radius * math.cos(angle) - half
        mask.paste(255, (round(x), round(y)), tile)


def _draw_code(mask: Image.Image, code: str) -> None:
    side = mask.width
    centre = side / 2
    inner = side / 2 - _MARGIN * side - _RING * side - _GAP * side
    y = centre + _STAR * side * math.cos(math.radians(36)) + _CODE_DROP * side
    size = round(_CODE_FONT * side)
    while True:
        font = _font(size)
        # The line's lower corners must stay inside the ring.
        half_height = size / 2
        room = math.sqrt(max(inner**2 - (y - centre + half_height) ** 2, 0.0))
        if font.getlength(code) / 2 <= room:
            break
        size -= max(1, size // 20)
        if size < _MIN_CODE_FONT * side:
            raise SealImageError(f"the seal code {code!r} does not fit under the star at a readable size")
    ImageDraw.Draw(mask).text((centre, y), code, font=font, fill=255, anchor="mm")


def _star(centre: float, outer: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        r = outer if k % 2 == 0 else outer * _STAR_INNER
        angle = math.radians(-90 + 36 * k)  # the first point straight up
        points.append((centre + r * math.cos(angle), centre + r * math.sin(angle)))
    return points


def draw_seal(name: str, *, code: str | None = None, size_px: int = DEFAULT_SEAL_SIDE) -> bytes:
    """A PNG of a round red official seal (公章): a ring, a five-pointed star, `name` set
    along the upper arc and `code` (e.g. a 13-digit seal code) under the star, on a
    transparent background. The same arguments give the same bytes."""
    name = name.strip()
    if not name:
        raise SealImageError("the seal's name is empty")
    if len(name.encode()) > MAX_SEAL_NAME_BYTES:
        raise SealImageError(f"the seal's name is {len(name.encode())} bytes of UTF-8; the registry keeps "
                             f"{MAX_SEAL_NAME_BYTES} at most")
    _check_text(name, "name")
    if code is not None:
        code = code.strip()
        if not code or len(code) > MAX_SEAL_CODE_CHARS:
            raise SealImageError(f"a seal code has 1 to {MAX_SEAL_CODE_CHARS} characters, not {len(code)}")
        _check_text(code, "code")
    if not MIN_DRAWN_SIDE <= size_px <= MAX_SEAL_SIDE:
        raise SealImageError(f"a drawn seal is {MIN_DRAWN_SIDE} to {MAX_SEAL_SIDE} px a side, not {size_px}")

    # 1. Coverage (how much ink each point gets) at SUPERSAMPLE times the size.
    side = size_px * SUPERSAMPLE
    centre = side / 2
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    outer = side / 2 - _MARGIN * side
    draw.ellipse((centre - outer, centre - outer, centre + outer, centre + outer), fill=255)
    inner = outer - _RING * side
    draw.ellipse((centre - inner, centre - inner, centre + inner, centre + inner), fill=0)
    draw.polygon(_star(centre, _STAR * side), fill=255)
    _draw_name(mask, name)
    if code is not None:
        _draw_code(mask, code)
    # 2. Reduced by averaging: the coverage becomes the alpha of one red everywhere.
    alpha = mask.reduce(SUPERSAMPLE)
    planes = [Image.new("L", alpha.size, value) for value in SEAL_RED]
    image = Image.merge("RGBA", (*planes, alpha))
    # 3. Encoded with fixed settings and no metadata (no time, no text chunks).
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()
