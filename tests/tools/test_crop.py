import numpy as np
import pytest
from PIL import Image

from scrutiny.tools import ToolError, crop, zoom


@pytest.fixture
def gradient():
    x = np.tile((np.arange(400) % 256).astype(np.uint8)[None, :], (200, 1))
    return Image.fromarray(np.stack([x, x, x], axis=2))


def test_norm1000_and_pixel_boxes_cut_the_same_region(gradient):
    a = crop(gradient, [250, 0, 750, 1000])
    b = crop(gradient, [100, 0, 300, 200], units="pixel")
    assert a.box_px == b.box_px == (100, 0, 300, 200)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_small_crops_are_upscaled_for_reading(gradient):
    small = crop(gradient, [10, 10, 60, 40], units="pixel")
    assert small.scale == 4 and small.image.size == (200, 120)
    medium = crop(gradient, [0, 0, 400, 200], units="pixel")
    assert medium.scale == 2 and medium.image.size == (800, 400)  # 200 px is under 224
    big = crop(Image.new("RGB", (500, 300)), [0, 0, 1000, 1000])
    assert big.scale == 1 and big.image.size == (500, 300)


def test_zoom_enlarges_by_the_factor_with_a_cap(gradient):
    assert zoom(gradient, [0, 0, 500, 500], factor=3).image.size == (600, 300)
    huge = Image.new("RGB", (3000, 100))
    assert zoom(huge, [0, 0, 1000, 1000], factor=8).image.width == 4096


@pytest.mark.parametrize(
    ("box", "units", "reason"),
    [
        ([500, 0, 100, 100], "norm1000", "x1 < x2"),
        ([0, 500, 100, 100], "norm1000", "y1 < y2"),
        ([0, 0, 1200, 100], "norm1000", "outside 0..1000"),
        ([-5, 0, 100, 100], "pixel", "outside the 400x200 image"),
        ([0, 0, 100, 201], "pixel", "outside the 400x200 image"),
        ([0, 0, 1, 100], "norm1000", "covers only 0x20 pixels"),
    ],
)
def test_invalid_boxes_raise_tool_error_with_the_reason(gradient, box, units, reason):
    with pytest.raises(ToolError, match=reason):
        crop(gradient, box, units=units)


def test_model_style_call_adds_nothing_but_a_crop(gradient):
    call = crop.invoke({"image": "candidate_0", "box": [0, 0, 500, 500]}, {"candidate_0": gradient})
    assert set(call.result.produced_images()) == {"crop"}
    assert call.result.model_dump() == {"box_px": (0, 0, 200, 100), "width": 200 * 3, "height": 100 * 3, "scale": 3}
