import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from scrutiny.core.images import (
    ImageError,
    data_url,
    fast_png,
    image_hash,
    load_image,
    pixels,
    png_bytes,
    shared_pixels,
)


def _png(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kw)
    return buffer.getvalue()


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))


def test_every_input_kind_gives_the_same_pixels_and_hash(rgb, tmp_path):
    path = tmp_path / "x.png"
    rgb.save(path)
    array = np.array(rgb)
    inputs = [
        rgb,
        array,
        path,
        str(path),
        path.read_bytes(),
        torch.from_numpy(array).permute(2, 0, 1).contiguous(),  # uint8 CHW
        torch.from_numpy(array).permute(2, 0, 1).float() / 255.0,  # float CHW in [0, 1]
    ]
    hashes = {image_hash(load_image(x)) for x in inputs}
    assert hashes == {image_hash(rgb)}
    assert load_image(array).mode == "RGB" and load_image(array).size == (32, 24)


def test_hash_depends_on_pixels_only(rgb):
    other = rgb.copy()
    other.putpixel((0, 0), (1, 2, 3))
    assert image_hash(rgb) == image_hash(rgb.copy())
    assert image_hash(rgb) != image_hash(other)


@pytest.mark.parametrize("mode", ["P", "CMYK", "L", "LA", "RGBA", "I;16", "1"])
def test_other_modes_are_converted_not_rejected(rgb, mode):
    if mode == "P":
        image = rgb.convert("P")
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    else:
        image = rgb.convert(mode)
    out = load_image(_png(image) if mode != "CMYK" else image)
    assert out.mode == "RGB" and out.size == rgb.size


def test_sixteen_bit_is_scaled_not_clipped():
    array = np.full((4, 4), 65535, dtype=np.uint16)
    array[0, 0] = 0
    out = np.asarray(load_image(_png(Image.fromarray(array))))
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_alpha_is_composited_on_white():
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(load_image(transparent))[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: b"", "empty"),
        (lambda tmp: b"this is not an image", "not an image"),
        (lambda tmp: _png(Image.new("RGB", (64, 64), "red"))[:60], "truncated"),
        (lambda tmp: tmp / "missing.png", "no such file"),
        (lambda tmp: tmp, "folder"),
        (lambda tmp: np.zeros((8, 8, 2), np.uint8), "shape"),
        (lambda tmp: np.zeros((3, 8, 8, 3), np.uint8), "shape"),
        (lambda tmp: np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (lambda tmp: np.full((8, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
        (lambda tmp: torch.full((3, 8, 8), -1.0), r"\[0, 1\]"),
        (lambda tmp: torch.zeros((8, 8, 3)), "CxHxW"),
        (lambda tmp: torch.zeros((2, 3, 8, 8)), "one image at a time"),
        (lambda tmp: np.zeros((0, 8, 3), np.uint8), "no pixels"),
        (lambda tmp: 42, "cannot read an image from a int"),
    ],
)
def test_bad_input_gets_one_clear_error(tmp_path, make, message):
    with pytest.raises(ImageError, match=message) as info:
        load_image(make(tmp_path))
    assert "\n" not in str(info.value)


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    big = _png(Image.new("RGB", (400, 300)))
    with pytest.raises(ImageError, match="over the limit"):
        load_image(big, limit=100_000)
    monkeypatch.setenv("SCRUTINY_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="SCRUTINY_MAX_PIXELS"):
        load_image(np.zeros((100, 100, 3), np.uint8))


def test_request_encodings_follow_the_pixels_not_the_object(rgb):
    first = data_url(rgb)
    assert first.startswith("data:image/png;base64,") and data_url(rgb) is first  # encoded once
    decoded = Image.open(io.BytesIO(base64.b64decode(first.split(",", 1)[1])))
    assert decoded.tobytes() == rgb.tobytes()
    rgb.paste((255, 0, 0), (0, 0, 4, 4))  # changed in place: same object, new pixels
    assert data_url(rgb) != first
    assert Image.open(io.BytesIO(png_bytes(rgb))).tobytes() == rgb.tobytes()


def test_bfloat16_tensors_are_images():
    torch = pytest.importorskip("torch")
    from scrutiny.trainers.rewards import as_images

    batch = torch.rand(2, 3, 8, 8).to(torch.bfloat16)  # what SD3 and FLUX pipelines decode to
    assert load_image(batch[0]).size == (8, 8) and [i.size for i in as_images(batch)] == [(8, 8), (8, 8)]


def test_pixels_are_read_once_within_a_judgment_and_afresh_outside_it():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8))
    array = pixels(image)
    assert array.shape == (300, 200, 3) and not array.flags.writeable
    assert (array == np.asarray(image)).all()  # made a strip of rows at a time, the same pixels
    with shared_pixels():
        shared = pixels(image)
        assert pixels(image) is shared and pixels(image.copy()) is not shared
    before = image_hash(image)
    ImageDraw.Draw(image).rectangle((0, 0, 50, 50), fill=(255, 0, 0))  # a user draws on it between judgments
    assert image_hash(image) != before and (pixels(image)[:50, :50] == (255, 0, 0)).all()
    assert pixels(image.convert("L")).shape == (300, 200, 3)  # other modes come back as RGB


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_the_fast_png_is_a_lossless_png_any_reader_reads(mode):
    rgb = np.random.default_rng(1).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    rgb[:40] = (200, 30, 30)  # flat rows too: the run-length strategy's best case
    image = Image.fromarray(rgb).convert(mode)
    data = fast_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = Image.open(io.BytesIO(data))
    assert back.mode == mode and (np.asarray(back) == np.asarray(image)).all()
