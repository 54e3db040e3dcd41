"""The COCO detector's calibration: fit on the training split of the labelled photos, never the validation
split, and what a presence score does with it."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from scrutiny.tools import coco

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def calibrate():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("calibrate")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_isotonic_fit_pools_what_is_out_of_order_and_smooths_each_block(calibrate):
    x = np.array([0.1, 0.2, 0.3, 0.6, 0.9, 0.95])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    knots = calibrate.isotonic(x, y)
    xs, ps = zip(*knots)
    assert xs[0] == 0.0 and xs[-1] == 1.0 and list(xs) == sorted(xs)
    assert list(ps) == sorted(ps)  # never less likely with more confidence
    assert ps[0] == pytest.approx(1 / 3, abs=1e-4)  # one absent example: (0 + 1) / (1 + 2)
    assert ps[-1] == pytest.approx(4 / 5, abs=1e-4)  # the last three present: (3 + 1) / (3 + 2)
    assert 1 / 3 < float(np.interp(0.25, xs, ps)) < 4 / 5  # the pooled (0.2, 0.3) block: 2 of 4


def test_the_fit_never_sees_the_validation_split(calibrate, shared_data):
    photos = importlib.import_module("photos")
    validation = photos.load(shared_data, "validation")
    train = photos.load(shared_data, "train")
    assert validation and train and not {i["file"] for i in validation} & {i["file"] for i in train}
    assert len(validation) + len(train) == len(photos.load(shared_data, "all"))
    with pytest.raises(AssertionError, match="never fit on the validation split"):
        calibrate.examples(validation[:1])


@pytest.mark.slow
def test_the_shipped_calibration_is_what_the_fit_gives(calibrate, shared_data):
    shipped = json.loads((Path(coco.__file__).with_name("detector_calibration.json")).read_text())
    assert calibrate.fit(shared_data) == shipped


def test_a_presence_score_climbs_with_confidence_and_a_hint_earns_little():
    confidences = np.linspace(0, 1, 201)
    scores = [coco.presence_from_confidence(c, "dog") for c in confidences]
    assert all(b >= a for a, b in zip(scores, scores[1:]))
    above = [s for c, s in zip(confidences, scores) if c >= coco.COUNT_CONFIDENCE]
    assert all(b > a for a, b in zip(above, above[1:]))  # no flat stretch where one counts
    assert coco.presence_from_confidence(coco.PRESENT, "dog") == 0.0
    assert coco.presence_from_confidence(0.95, "dog") >= 0.9 > coco.presence_from_confidence(0.7, "dog")
    assert 0 <= coco.presence_probability("dog", 0.5) <= 1


def test_a_group_curve_is_shrunk_toward_the_shared_one(calibrate):
    shared = [[0.0, 0.5], [1.0, 0.5]]
    x, y = np.array([0.2, 0.8, 0.9]), np.array([0.0, 1.0, 1.0])
    xs, ps = zip(*calibrate.isotonic(x, y, shared))
    assert ps[0] == pytest.approx((0 + 2 * 0.5) / (1 + 2), abs=1e-4)  # one absent example, two at the prior
    assert ps[-1] == pytest.approx((2 + 2 * 0.5) / (2 + 2), abs=1e-4)
    assert list(ps) == sorted(ps)


def test_people_and_animals_have_their_own_curves_and_the_rest_share_one():
    assert coco.calibration_group("person") == "person" and coco.calibration_group("cat") == "animal"
    assert coco.calibration_group("car") is None
    groups = coco.CALIBRATION["groups"]
    for label, curve in (("person", groups["person"]), ("dog", groups["animal"]), ("car", coco.CALIBRATION)):
        xs, ps = zip(*curve["knots"])
        for c in (0.3, 0.6, 0.9):
            assert coco.presence_probability(label, c) == pytest.approx(float(np.interp(c, xs, ps)))
