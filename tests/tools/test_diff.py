import numpy as np
import pytest
from PIL import Image, ImageDraw

from scrutiny.tools import diff


@pytest.fixture
def source():
    rng = np.random.default_rng(0)
    base = np.zeros((256, 256, 3), np.float32)
    base += np.linspace(40, 200, 256)[None, :, None]
    base += rng.normal(0, 8, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _edit(image, box, color=(230, 40, 40)):
    out = image.copy()
    ImageDraw.Draw(out).rectangle(box, fill=color)
    return out


def test_one_changed_region_is_found_and_the_rest_preserved(source):
    edited = _edit(source, (60, 80, 119, 139))
    result = diff(edited, source)
    assert len(result.regions) == 1
    x1, y1, x2, y2 = result.regions[0]
    assert abs(x1 - 60) <= 3 and abs(y1 - 80) <= 3 and abs(x2 - 120) <= 3 and abs(y2 - 140) <= 3
    assert result.changed_fraction == pytest.approx(60 * 60 / 256**2, rel=0.15)
    assert result.preserved_ssim > 0.97


def test_named_region_separates_intended_from_collateral_change(source):
    faithful = _edit(source, (60, 80, 119, 139))
    sloppy = _edit(faithful, (180, 180, 239, 239), color=(20, 200, 20))
    region = [60, 80, 120, 140]  # the intended change, in pixels
    good = diff(faithful, source, region=region, units="pixel")
    bad = diff(sloppy, source, region=region, units="pixel")
    assert good.outside_changed_fraction < 0.01 and good.inside_changed_fraction > 0.9  # blur spreads 1 px
    assert bad.outside_changed_fraction > 0.05
    assert bad.preserved_ssim < good.preserved_ssim


def test_identical_images_change_nothing(source):
    result = diff(source.copy(), source)
    assert result.changed_fraction == 0.0 and result.regions == [] and result.preserved_ssim == pytest.approx(1.0)


def test_edit_of_another_size_is_resized_and_says_so(source):
    result = diff(source.resize((512, 512)), source)
    assert result.resized and result.changed_fraction < 0.01


def test_mask_is_produced_as_an_image(source):
    result = diff(_edit(source, (0, 0, 63, 63)), source)
    mask = result.produced_images()["mask"]
    assert mask.size == source.size and np.asarray(mask)[10, 10] == 255 and np.asarray(mask)[200, 200] == 0


def test_real_edit_examples_change_a_small_region(shared_data):
    folder = shared_data / "editreward_examples"
    src = Image.open(folder / "source_img_1.png").convert("RGB")
    edit = Image.open(folder / "target_img_2.png").convert("RGB")
    result = diff(edit, src)
    assert 0 < result.changed_fraction < 0.1 and result.preserved_ssim > 0.9
