"""Seal images (client/seals.py): reading a PNG under its caps, the two digests computed
here from docs/seals.md's specification (not through the functions under test), RGBA
from a PDF image's planes, and `draw_seal`'s official-seal PNG.

PNG files are built byte by byte (signature, IHDR, IDAT, IEND with their CRCs) so the
test knows every pixel without asking Pillow, the decoder under test.
"""
from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from client.seals import (
    DEFAULT_SEAL_SIDE,
    MAX_SEAL_CODE_CHARS,
    MAX_SEAL_FILE_BYTES,
    MAX_SEAL_SIDE,
    MIN_DRAWN_SIDE,
    SEAL_RED,
    SealImageError,
    draw_seal,
    load_seal_image,
    pixel_digest,
    rgba_from_planes,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# docs/seals.md: the pixel digest's domain, written out here rather than imported.
DOMAIN = b"evidence-ledger/seal-pixels/v1" + b"\x00"

# A 2x2 RGBA image: red opaque, green half-transparent / blue opaque, white fully transparent.
PIXELS_2X2 = [[(230, 0, 18, 255), (0, 128, 0, 128)], [(0, 0, 255, 255), (255, 255, 255, 0)]]
# SHA-256(DOMAIN ‖ 00000002 ‖ 00000002 ‖ the 16 bytes above): docs/seals.md's test vector.
PIXEL_DIGEST_2X2 = "8d733ce0b8fdfbeba47effe4614e7184eda98c98acf9383e498582f86a579651"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: list[bytes], *, color_type: int = 6, depth: int = 8, extra: bytes = b"",
        idat: bytes | None = None) -> bytes:
    """A PNG file, each row with filter byte 0 (none)."""
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    body = zlib.compress(b"".join(b"\x00" + row for row in rows)) if idat is None else idat
    return PNG_SIGNATURE + chunk(b"IHDR", header) + extra + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def rgba_rows(pixels: list[list[tuple[int, int, int, int]]]) -> list[bytes]:
    return [bytes(sample for pixel in row for sample in pixel) for row in pixels]


# -- the two digests ---------------------------------------------------------------------


def test_digests_of_a_hand_made_png_follow_the_spec() -> None:
    data = png(2, 2, rgba_rows(PIXELS_2X2))
    seal = load_seal_image(data)
    rgba = b"".join(rgba_rows(PIXELS_2X2))
    assert (seal.width, seal.height, seal.rgba, seal.data) == (2, 2, rgba, data)
    assert seal.digest == hashlib.sha256(data).digest()  # the seal's id: the file's SHA-256
    expected = hashlib.sha256(DOMAIN + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + rgba).digest()
    assert seal.pixel_digest == expected
    assert seal.pixel_digest.hex() == PIXEL_DIGEST_2X2
    assert pixel_digest(2, 2, rgba) == expected
    # The planes a PDF image carries: colour without alpha, and alpha as its soft mask.
    assert seal.rgb == bytes([230, 0, 18, 0, 128, 0, 0, 0, 255, 255, 255, 255])
    assert seal.alpha == bytes([255, 128, 255, 0])


def test_width_and_height_are_both_in_the_pixel_digest() -> None:
    # The same 8 bytes of pixels as 2x1 and as 1x2 are different images.
    rgba = bytes([1, 2, 3, 4, 5, 6, 7, 8])
    wide = load_seal_image(png(2, 1, [rgba]))
    tall = load_seal_image(png(1, 2, [rgba[:4], rgba[4:]]))
    assert wide.rgba == tall.rgba == rgba
    assert wide.pixel_digest != tall.pixel_digest
    assert tall.pixel_digest == hashlib.sha256(DOMAIN + b"\x00\x00\x00\x01\x00\x00\x00\x02" + rgba).digest()


def test_other_png_colour_types_are_digested_as_rgba() -> None:
    # Palette with tRNS: index 0 = red, transparent; index 1 = blue, opaque.
    palette = chunk(b"PLTE", bytes([230, 0, 18, 0, 0, 255])) + chunk(b"tRNS", bytes([0]))
    seal = load_seal_image(png(2, 1, [bytes([0, 1])], color_type=3, extra=palette))
    assert seal.rgba == bytes([230, 0, 18, 0, 0, 0, 255, 255])
    # Grey without alpha: opaque.
    grey = load_seal_image(png(2, 1, [bytes([0, 200])], color_type=0))
    assert grey.rgba == bytes([0, 0, 0, 255, 200, 200, 200, 255])
    assert grey.pixel_digest == hashlib.sha256(DOMAIN + b"\x00\x00\x00\x02\x00\x00\x00\x01" + grey.rgba).digest()


def test_the_same_pixels_in_another_file_are_another_seal_with_the_same_pixel_digest() -> None:
    rows = rgba_rows(PIXELS_2X2)
    fast = load_seal_image(png(2, 2, rows, idat=zlib.compress(b"".join(b"\x00" + r for r in rows), 1)))
    small = load_seal_image(png(2, 2, rows, idat=zlib.compress(b"".join(b"\x00" + r for r in rows), 9)))
    text = load_seal_image(png(2, 2, rows, extra=chunk(b"tEXt", b"Comment\x00re-saved")))
    assert len({fast.digest, text.digest}) == 2
    assert fast.pixel_digest == small.pixel_digest == text.pixel_digest


# -- caps and refusals ------------------------------------------------------------------------


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(SealImageError, match=f"exceeds {MAX_SEAL_FILE_BYTES}"):
        load_seal_image(PNG_SIGNATURE + b"\x00" * MAX_SEAL_FILE_BYTES)


def test_a_side_over_the_cap_is_refused() -> None:
    row = b"\x00" * 4 * (MAX_SEAL_SIDE + 1)
    with pytest.raises(SealImageError, match=f"{MAX_SEAL_SIDE + 1}x1 pixels: a seal is 1 to {MAX_SEAL_SIDE} pixels per side"):
        load_seal_image(png(MAX_SEAL_SIDE + 1, 1, [row]))
    at_cap = load_seal_image(png(MAX_SEAL_SIDE, 1, [b"\x00" * 4 * MAX_SEAL_SIDE]))
    assert (at_cap.width, at_cap.height) == (MAX_SEAL_SIDE, 1)


@pytest.mark.filterwarnings("error")  # Pillow's DecompressionBombWarning must not reach the caller either
@pytest.mark.parametrize("side", [10_000, 100_000])
def test_a_png_bomb_header_is_refused_before_decoding(side: int) -> None:
    # The header claims side x side RGBA pixels (40 GB at 100000) over one byte of data:
    # refused from the header, as a SealImageError naming the size, before any pixel is
    # inflated (10000: past Pillow's warning; 100000: past its own bomb error).
    bomb = png(side, side, [], idat=zlib.compress(b"\x00"))
    with pytest.raises(SealImageError, match=f"{side}x{side} pixels: a seal is 1 to {MAX_SEAL_SIDE} pixels per side"):
        load_seal_image(bomb)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not a readable PNG image"),
    (b"GIF89a" + b"\x00" * 20, "not a readable PNG image"),
    (PNG_SIGNATURE + b"\x00" * 30, "first chunk is not an IHDR header"),
    (PNG_SIGNATURE + chunk(b"IHDR", b"")[:12], "first chunk is not an IHDR header"),
    (png(2, 2, [b"\x00\x00"]), "not a readable PNG image"),  # too few pixels for the header
    (png(0, 2, []), "0x2 pixels: a seal is 1 to"),
])
def test_not_a_png_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SealImageError, match=reason):
        load_seal_image(data)


@pytest.mark.parametrize("kind", ["JPEG", "GIF", "BMP"])
def test_other_image_formats_are_refused_by_name(kind: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (230, 0, 18)).save(out, kind)
    with pytest.raises(SealImageError, match=f"must be a PNG file, not {kind}"):
        load_seal_image(out.getvalue())


@pytest.mark.parametrize(("color_type", "sample"), [(0, struct.pack(">H", 0x1234)), (6, b"\x12\x34" * 4)])
def test_16_bit_samples_are_refused(color_type: int, sample: bytes) -> None:
    # Pillow would clip a 16-bit grey of 0x1234 to 255 (white) where a viewer draws 0x12.
    with pytest.raises(SealImageError, match="16-bit samples"):
        load_seal_image(png(1, 1, [sample], color_type=color_type, depth=16))


def test_samples_under_8_bits_scale_as_png_decodes_them() -> None:
    # 2-bit grey 0, 1, 2, 3 → 0, 85, 170, 255 (v × 255 / 3).
    two_bit = png(4, 1, [bytes([0b00_01_10_11])], color_type=0, depth=2)
    assert load_seal_image(two_bit).rgba == bytes([0, 0, 0, 255, 85, 85, 85, 255, 170, 170, 170, 255, 255, 255, 255, 255])


def test_an_animated_png_is_refused() -> None:
    # A browser plays an APNG's frames; the registry would hold the digest of one of them.
    out = io.BytesIO()
    first, second = Image.new("RGBA", (4, 4), (230, 0, 18, 255)), Image.new("RGBA", (4, 4), (0, 0, 255, 255))
    first.save(out, "PNG", save_all=True, append_images=[second])
    with pytest.raises(SealImageError, match="animated"):
        load_seal_image(out.getvalue())


# -- PDF image planes ---------------------------------------------------------------------


def test_rgba_from_planes_round_trips_a_seal() -> None:
    seal = load_seal_image(png(2, 2, rgba_rows(PIXELS_2X2)))
    assert rgba_from_planes(2, 2, seal.rgb, seal.alpha) == seal.rgba
    # No soft mask: every pixel opaque.
    assert rgba_from_planes(1, 1, b"\x01\x02\x03", None) == b"\x01\x02\x03\xff"
    with pytest.raises(SealImageError, match="do not fill 2x2"):
        rgba_from_planes(2, 2, seal.rgb[:-1], seal.alpha)
    with pytest.raises(SealImageError, match="do not fill 2x2"):
        rgba_from_planes(2, 2, seal.rgb, seal.alpha + b"\x00")
    with pytest.raises(SealImageError, match="15 bytes of RGBA for a 2x2 image"):
        pixel_digest(2, 2, seal.rgba[:-1])


# -- drawing a seal ----------------------------------------------------------------------------

NAME = "某某市公共资源交易中心"
CODE = "3201000012345"


def chunk_types(data: bytes) -> list[bytes]:
    types, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        types.append(data[at + 4:at + 8])
        at += 12 + length
    return types


@pytest.fixture(scope="module")
def drawn() -> bytes:
    return draw_seal(NAME, code=CODE)


def test_a_drawn_seal_is_the_same_file_every_time(drawn: bytes) -> None:
    assert draw_seal(NAME, code=CODE) == drawn
    assert draw_seal(f"  {NAME} ", code=f"{CODE} ") == drawn  # surrounding spaces are not part of a name
    # Nothing that varies between runs: no time, text or physical-size chunk.
    types = chunk_types(drawn)
    assert types[0] == b"IHDR" and types[-1] == b"IEND" and set(types[1:-1]) == {b"IDAT"}, types


def test_a_drawn_seal_is_a_red_ring_star_and_name_on_transparency(drawn: bytes) -> None:
    seal = load_seal_image(drawn)
    with Image.open(io.BytesIO(drawn)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (DEFAULT_SEAL_SIDE, DEFAULT_SEAL_SIDE))
    side = seal.width
    alpha = seal.alpha
    # One red everywhere; the ink is in the alpha.
    assert set(zip(seal.rgb[0::3], seal.rgb[1::3], seal.rgb[2::3])) == {SEAL_RED}
    assert SEAL_RED == (0xE6, 0x00, 0x12)
    clear = sum(1 for a in alpha if a == 0) / len(alpha)
    solid = sum(1 for a in alpha if a == 255) / len(alpha)
    assert clear > 0.6 and 0.05 < solid < 0.4, (clear, solid)

    def at(x: float, y: float) -> int:
        return alpha[round(y) * side + round(x)]

    centre = side / 2
    assert at(0, 0) == at(side - 1, side - 1) == 0                       # corners: transparent
    assert at(centre, 0.04 * side) == 255                                 # the ring, at the top
    assert at(centre, side - 0.04 * side) == 255                          # ... and the bottom
    assert at(centre, centre) == 255                                      # the star's middle
    assert at(centre, centre - 0.16 * side) == 255                        # its upper point
    assert at(centre + 0.1 * side, centre - 0.1 * side) == 0              # between two points

    def ink_in_band(top: float, bottom: float, left: float, right: float) -> int:
        return sum(1 for y in range(round(top), round(bottom)) for x in range(round(left), round(right)) if at(x, y))

    # The name along the upper arc: ink between the ring and the star above, none below
    # (where only the code line is, nearer the centre).
    assert ink_in_band(0.09 * side, 0.22 * side, 0.3 * side, 0.7 * side) > 0
    assert ink_in_band(0.8 * side, 0.86 * side, 0.3 * side, 0.7 * side) == 0  # (the ring is wider there)
    assert ink_in_band(0.65 * side, 0.78 * side, 0.3 * side, 0.7 * side) > 0  # the code line


def test_different_codes_names_and_sizes_give_different_seals(drawn: bytes) -> None:
    others = [draw_seal(NAME, code="3201000012346"), draw_seal(NAME), draw_seal(NAME + "合同专用章", code=CODE),
              draw_seal(NAME, code=CODE, size_px=300)]
    digests = {load_seal_image(d).digest for d in [drawn, *others]}
    pixels = {load_seal_image(d).pixel_digest for d in [drawn, *others]}
    assert len(digests) == len(pixels) == 5
    assert load_seal_image(others[-1]).width == 300


def test_latin_and_long_names_fit_the_arc() -> None:
    for name in ("Tenderer Construction Group Co., Ltd.", "杭州市西湖区某某建设工程有限公司合同专用章", "中建"):
        seal = load_seal_image(draw_seal(name, size_px=MIN_DRAWN_SIDE))
        assert seal.width == MIN_DRAWN_SIDE


@pytest.mark.parametrize(("name", "options", "reason"), [
    ("  ", {}, "name is empty"),
    ("测" * 43, {}, "129 bytes of UTF-8"),
    ("A" * 128, {"size_px": MIN_DRAWN_SIDE}, "does not fit the upper arc"),
    ("Seal\nCo", {}, "control"),
    (NAME, {"code": "1" * (MAX_SEAL_CODE_CHARS + 1)}, f"1 to {MAX_SEAL_CODE_CHARS} characters"),
    (NAME, {"code": " "}, f"1 to {MAX_SEAL_CODE_CHARS} characters"),
    (NAME, {"size_px": MIN_DRAWN_SIDE - 1}, f"{MIN_DRAWN_SIDE} to {MAX_SEAL_SIDE} px"),
    (NAME, {"size_px": MAX_SEAL_SIDE + 1}, f"{MIN_DRAWN_SIDE} to {MAX_SEAL_SIDE} px"),
])
def test_draw_seal_refuses_what_it_cannot_draw(name: str, options: dict[str, object], reason: str) -> None:
    with pytest.raises(SealImageError, match=reason):
        draw_seal(name, **options)  # type: ignore[arg-type]
