"""Colour names fit on the XKCD survey, and an object's colour measured on the object."""

import numpy as np
import pytest

from scrutiny.agents.checks.attribute import photo_color_score
from scrutiny.tools.colours import NEAR, SURVEY, middle_colours, name_pixels, object_colours
from scrutiny.tools.detect import COLOR_NAMES


def _name(rgb) -> str:
    return COLOR_NAMES[int(name_pixels(np.uint8([rgb]))[0])]


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((220, 20, 30), "red"),
        ((187, 30, 45), "red"),  # a stop sign's red, which fixed HSV thresholds called pink
        ((255, 140, 0), "orange"),
        ((245, 220, 40), "yellow"),
        ((30, 140, 50), "green"),
        ((64, 224, 208), "cyan"),  # turquoise
        ((30, 70, 200), "blue"),
        ((120, 40, 150), "purple"),
        ((250, 160, 190), "pink"),
        ((120, 75, 40), "brown"),
        ((12, 12, 14), "black"),
        ((240, 238, 230), "white"),  # off-white
        ((245, 235, 210), "white"),  # cream: a white dog in warm light
        ((128, 130, 128), "gray"),
    ],
)
def test_pixels_are_named_as_people_name_them(rgb, name):
    assert _name(rgb) == name


def test_every_survey_colour_of_a_name_mostly_reads_as_that_name():
    """The table agrees with the survey it was fit on (k nearest neighbours, so not every one)."""
    for name, hexes in SURVEY.items():
        colours = np.uint8([[int(h[k : k + 2], 16) for k in (0, 2, 4)] for h in hexes.split()])
        named = np.array(COLOR_NAMES)[name_pixels(colours)]
        agree = np.mean((named == name) | np.isin(named, NEAR[name]) | np.isin(named, ["gray", "white", "black"]))
        assert agree > 0.8, (name, agree)


def _scene(object_rgb, background_rgb=(40, 120, 60), seed=0):
    """A shaded ellipse (the object) on a textured background, 200 x 160."""
    rng = np.random.default_rng(seed)
    image = np.clip(np.array(background_rgb) + rng.normal(0, 12, (160, 200, 3)), 0, 255)
    yy, xx = np.mgrid[:160, :200]
    inside = ((xx - 100) / 55) ** 2 + ((yy - 80) / 40) ** 2 <= 1
    shade = 0.75 + 0.25 * (xx - 45) / 110  # lit from the right
    image[inside] = np.clip(np.array(object_rgb)[None] * shade[inside][:, None], 0, 255)
    return image.astype(np.uint8), (40, 35, 160, 125)  # a loose box, as a detector gives


def test_an_objects_colour_is_measured_on_the_object_not_its_box():
    rgb, box = _scene((200, 30, 40))
    measured = object_colours(rgb, box)
    assert next(iter(measured.shares)) == "red" and measured.shares["red"] > 0.8
    assert measured.cut is not None and 0.3 <= measured.cut <= 0.9  # the outline was cut from the box
    assert measured.shares.get("green", 0) < 0.1  # the grass around it is not the object
    middle = middle_colours(rgb, box)
    assert middle.cut is None and next(iter(middle.shares)) == "red"


def test_where_no_outline_is_found_the_middle_of_the_box_stands_in():
    flat = np.full((100, 100, 3), (30, 70, 200), np.uint8)  # nothing to cut from its surroundings
    measured = object_colours(flat, (10, 10, 90, 90))
    assert measured.cut == 0.0 and measured.shares == {"blue": 1.0}
    assert object_colours(flat, (10, 10, 12, 12)).shares == {}  # a box too small to measure


def test_a_colour_light_may_have_moved_is_unsettled_not_wrong():
    orange_in_shade = {"brown": 0.7, "orange": 0.2, "black": 0.1}
    assert photo_color_score(orange_in_shade, "brown") == 1.0
    assert 0.3 < photo_color_score(orange_in_shade, "orange") < 0.9  # not met, not a confident 0
    assert photo_color_score(orange_in_shade, "blue") == 0.0
    assert photo_color_score({"red": 0.55, "white": 0.45}, "red") == 1.0  # a red and white bus is red
    assert photo_color_score({}, "red") == 0.0
    elephant_in_shade = {"black": 0.71, "gray": 0.13, "white": 0.12}  # gray and brown both neighbour black
    assert photo_color_score(elephant_in_shade, "brown") < photo_color_score(elephant_in_shade, "gray") < 1.0


def test_the_planner_asks_for_colours_on_the_object_only_of_the_classes_a_criterion_colours():
    from scrutiny.agents.offline import _coloured_classes
    from scrutiny.agents.rubric import synthesize
    from scrutiny.tools import coco

    if not coco.available():
        pytest.skip("the COCO detector is a core dependency; this install lacks it")
    rubric = synthesize("a red car to the left of a blue bus, and a dog")
    assert sorted(_coloured_classes(rubric, [c.id for c in rubric])) == ["bus", "car"]


def test_the_shipped_table_is_what_the_survey_gives():
    """Rewrite it with `python -m scrutiny.tools.colours` after changing the survey or a threshold."""
    from scrutiny.tools.colours import TABLE, compute_table

    assert np.array_equal(np.load(TABLE), compute_table())


def test_the_same_object_measures_the_same_every_time():
    """GrabCut seeds its colour models from OpenCV's RNG: a reward must not change between two looks."""
    rgb, box = _scene((200, 120, 40), seed=3)
    other, other_box = _scene((40, 60, 200), seed=4)
    first = object_colours(rgb, box)
    object_colours(other, other_box)  # another cut in between moves the RNG on
    assert object_colours(rgb, box) == first
