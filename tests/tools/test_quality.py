import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from scrutiny.tools import quality


@pytest.fixture
def photo_like():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    base = np.stack(
        [128 + 80 * np.sin(xx / 9.0), 128 + 80 * np.cos(yy / 7.0), 128 + 60 * np.sin((xx + yy) / 13.0)], axis=2
    )
    checker = ((xx // 16 + yy // 16) % 2) * 40
    return Image.fromarray(np.clip(base + checker[..., None] + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8))


def test_all_scores_lie_in_unit_interval(photo_like):
    result = quality(photo_like)
    for name in ("sharpness", "exposure", "noise", "blockiness", "colorfulness", "overall"):
        assert 0.0 <= getattr(result, name) <= 1.0


def test_blur_lowers_sharpness(photo_like):
    assert quality(photo_like.filter(ImageFilter.GaussianBlur(3))).sharpness < quality(photo_like).sharpness - 0.3


def test_noise_lowers_noise_score(photo_like):
    rng = np.random.default_rng(1)
    noisy = np.clip(np.asarray(photo_like) + rng.normal(0, 25, (256, 256, 3)), 0, 255).astype(np.uint8)
    assert quality(Image.fromarray(noisy)).noise < quality(photo_like).noise - 0.3


def test_bad_exposure_scores_low(photo_like):
    dark = Image.fromarray((np.asarray(photo_like) * 0.1).astype(np.uint8))
    assert quality(dark).exposure < 0.3 < quality(photo_like).exposure


def test_heavy_jpeg_is_blockier(photo_like):
    smooth = photo_like.filter(ImageFilter.GaussianBlur(2))
    buffer = io.BytesIO()
    smooth.save(buffer, format="JPEG", quality=5)
    assert quality(Image.open(buffer).convert("RGB")).blockiness < quality(smooth).blockiness - 0.2


def test_grayscale_has_no_colour(photo_like):
    assert quality(photo_like.convert("L").convert("RGB")).colorfulness == 0.0
    assert quality(photo_like).colorfulness > 0.5
