import io
import math
import sys

import cv2
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


def test_strip_measures_equal_the_whole_image_ones():
    """Quality's measures run a strip of rows at a time (the float copies stay a strip's size): on an
    image taller than a strip, each equals the same measure over the whole image at once."""
    q = sys.modules["scrutiny.tools.quality"]
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((q.strip_rows(301) * 2 + 37, 301), dtype=np.float32) * 255, (0, 0), 2)
    for gray in (base, np.round(base / 40) * 40, np.full((9, 5), 7.5, np.float32)):
        assert q.laplacian_variance(gray) == pytest.approx(
            float(cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))[1][0, 0] ** 2), rel=1e-4, abs=1e-6
        )
        kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
        whole = cv2.norm(cv2.filter2D(gray, cv2.CV_32F, kernel)[1:-1, 1:-1], cv2.NORM_L1)
        expected = whole * math.sqrt(math.pi / 2) / (6 * (gray.shape[1] - 2) * (gray.shape[0] - 2))
        assert q.noise_sigma(gray) == pytest.approx(expected, rel=1e-4, abs=1e-6)
        on = off = 0.0
        for axis in (1, 0):
            jumps = np.abs(np.diff(gray, axis=axis))
            grid = jumps[:, 7::8] if axis == 1 else jumps[7::8, :]
            on += float(grid.mean()) if grid.size else 0.0
            off += (float(jumps.sum()) - float(grid.sum())) / max(jumps.size - grid.size, 1)
        assert q.block_ratio(gray) == pytest.approx(on / max(off, 1e-6), rel=1e-4)
        assert q.percentiles(gray, (1, 50, 99)) == pytest.approx(list(np.percentile(gray, [1, 50, 99])), abs=1e-4)


def test_the_gate_marks_a_strip_at_a_time_as_over_the_whole_image():
    d = sys.modules["scrutiny.tools.degenerate"]
    rng = np.random.default_rng(1)
    page = np.full((700, 500, 3), 240, np.uint8)
    page[rng.integers(0, 700, 300), rng.integers(0, 500, 300)] = 20  # specks of ink
    coef = d._plane(page)
    h, w = page.shape[:2]
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    y = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    image = page.astype(np.float32)
    marks = np.zeros((h, w), bool)
    for c in range(3):
        marks |= np.abs(image[..., c] - ((coef[0, c] + coef[1, c] * x) + coef[2, c] * y)) > d.MARK
    assert d.mark_share(page, coef) == pytest.approx(float(marks.mean())) and marks.any()
