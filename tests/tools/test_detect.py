import numpy as np
import pytest
from PIL import Image, ImageFilter

from scrutiny.testing.scenes import RGB, Shape, grid, shapes
from scrutiny.tools import Detection, ToolError, detect, register_detector
from scrutiny.tools.detect import DETECTORS, color_name

SCENE = [
    Shape("circle", "red", (20, 20, 120, 120)),
    Shape("circle", "red", (200, 20, 300, 120)),
    Shape("square", "blue", (20, 200, 120, 300)),
    Shape("triangle", "green", (300, 200, 400, 300)),
    Shape("rectangle", "yellow", (150, 350, 450, 420)),
    Shape("pentagon", "purple", (30, 380, 130, 480)),
]


def test_counts_colours_shapes_and_boxes_are_exact():
    result = detect(shapes(SCENE))
    found = sorted((d.label, d.color, d.box) for d in result.detections)
    expected = sorted((s.kind, s.color, s.box) for s in SCENE)
    # A regular pentagon inscribed in a 100 px box is narrower than the box; skip its box.
    assert [f[:2] for f in found] == [e[:2] for e in expected]
    for (kind, _, box), (_, _, want) in zip(found, expected):
        if kind != "pentagon":
            assert box == want
    assert result.counts["red circle"] == 2 and result.counts["circle"] == 2
    assert result.background == "white"


@pytest.mark.parametrize("count", [1, 3, 5, 7])
def test_counting_many_objects(count):
    result = detect(shapes(grid(count, "square", "orange", cell=90)), query="orange squares")
    assert len(result.detections) == count


def test_query_filters_by_colour_and_shape():
    image = shapes(SCENE)
    assert len(detect(image, query="red circles").detections) == 2
    assert len(detect(image, query="blue").detections) == 1
    assert detect(image, query="green circle").detections == []


def test_background_of_any_colour_and_touching_shapes_of_different_colours():
    items = [Shape("square", "red", (100, 100, 200, 200)), Shape("square", "yellow", (200, 100, 300, 200))]
    result = detect(shapes(items, background="blue"))
    assert result.background == "blue"
    assert sorted((d.color, d.box) for d in result.detections) == [
        ("red", (100, 100, 200, 200)),
        ("yellow", (200, 100, 300, 200)),
    ]


def test_antialiased_and_blurred_edges_do_not_add_objects():
    blurred = shapes(SCENE).filter(ImageFilter.GaussianBlur(1.5))
    assert len(detect(blurred).detections) == len(SCENE)


@pytest.mark.parametrize(
    "name", ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "cyan"]
)
def test_colour_names_of_the_palette(name):
    assert color_name(RGB[name]) == name


def test_faces_on_a_scene_without_faces_finds_none():
    result = detect(shapes(SCENE), query="face")
    assert result.detections == [] and DETECTORS["faces"].cascade().empty() is False


def test_plug_in_detectors_and_unknown_names():
    class Fixed:
        name = "fixed"

        def detect(self, image, query):
            return [Detection(label="dog", box=(1, 2, 3, 4), detector=self.name, score=0.9)]

    register_detector(Fixed())
    try:
        result = detect(Image.new("RGB", (10, 10)), query="dog", detector="fixed")
        assert result.counts["dog"] == 1 and result.detections[0].box == (1, 2, 3, 4)
        assert result.detections[0].colors == {"black": 1.0}  # the tool measures a plug-in's finds' colours
    finally:
        del DETECTORS["fixed"]
    with pytest.raises(ToolError, match="no detector named 'yolo'"):
        detect(Image.new("RGB", (10, 10)), detector="yolo")


def test_noise_does_not_create_objects():
    rng = np.random.default_rng(1)
    noisy = np.clip(np.full((256, 256, 3), 240) + rng.normal(0, 6, (256, 256, 3)), 0, 255).astype(np.uint8)
    assert detect(Image.fromarray(noisy)).detections == []


def test_palette_names_colour_shares_of_a_region():
    from scrutiny.tools import palette

    image = shapes([Shape("square", "red", (0, 0, 256, 512)), Shape("square", "blue", (256, 0, 512, 512))])
    assert palette(image).shares == {"red": 0.5, "blue": 0.5}
    assert palette(image, box=[0, 0, 250, 1000]).shares == {"red": 1.0}


def test_a_box_narrows_the_search_and_finds_stay_in_the_whole_images_pixels():
    result = detect(shapes(SCENE), box=[0, 0, 160, 320], units="pixel")
    assert sorted((d.label, d.color, d.box) for d in result.detections) == [
        ("circle", "red", (20, 20, 120, 120)),
        ("square", "blue", (20, 200, 120, 300)),
    ]
    assert (result.width, result.height) == (512, 512)


@pytest.mark.slow  # the face cascade on a photo, twice: over 1 s
def test_faces_in_a_region_are_the_faces_the_whole_image_has_there(shared_data):
    photo = Image.open(shared_data / "real_photos" / "skimage_astronaut.jpg").convert("RGB")
    everywhere = detect(photo, query="face").detections
    region = (12, 14, 372, 510)  # the astronaut, as the COCO detector boxes her
    inside = [d.box for d in everywhere if d.box[0] >= region[0] and d.box[2] <= region[2] and d.box[3] <= region[3]]
    found = [d.box for d in detect(photo, query="face", box=list(region), units="pixel").detections]
    assert inside and len(found) == len(inside)  # the same faces, up to where the cascade's windows fall
    assert all(max(abs(a - b) for a, b in zip(f, w)) <= 2 for f, w in zip(sorted(found), sorted(inside)))
