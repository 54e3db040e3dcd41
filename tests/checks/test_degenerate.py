"""The degenerate-image check: the tool's measures, what a prompt allows, and the gate in verdicts."""

from __future__ import annotations

import pytest
from PIL import Image, ImageFilter

from scrutiny import Judge, JudgeConfig
from scrutiny.agents.checks.degenerate import allowed, asks_for_plain, near_duplicates
from scrutiny.agents.rubric import synthesize
from scrutiny.testing import hacks
from scrutiny.testing.scenes import Shape, grid, shapes, storefront
from scrutiny.tools.degenerate import degenerate

CAUGHT = {
    "noise": [hacks.uniform_noise(), hacks.gaussian_noise(), hacks.blocky_noise(), hacks.smooth_noise()],
    "flat": [hacks.flat("gray"), hacks.flat("red"), hacks.gradient(), Image.new("RGB", (300, 200), "white")],
    "periodic": [hacks.checkerboard(32), hacks.checkerboard(8), hacks.stripes(16), hacks.tiled(storefront("X"), 3)],
    "copies": [hacks.tiled(storefront("OPEN"), 2), hacks.tiled(shapes(grid(2, "circle", "red")), 2)],
    "text_canvas": [hacks.text_canvas('A chalkboard menu that says "SOUP OF THE DAY"')],
}


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@pytest.mark.parametrize("finding", CAUGHT)
def test_each_degenerate_class_is_found_with_its_measure(finding):
    for image in CAUGHT[finding]:
        result = degenerate(image)
        assert result.findings[finding] >= 0.99, (finding, result)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_pictures_are_not_degenerate(shared_data):
    """Every labelled real photo, and the synthetic scenes tests judge, show no finding at all."""
    photos = sorted(p for p in (shared_data / "real_photos").iterdir() if p.suffix in (".jpg", ".png"))
    scenes = [
        storefront("OPEN 24 HOURS"),
        shapes(grid(6, "circle", "red")),
        shapes(grid(16, "circle", "blue", cell=90)),
    ]
    scenes.append(shapes([Shape("circle", "red", (200, 200, 300, 300))]))  # a circle reads as "O": not text
    assert len(photos) >= 30
    for image in [Image.open(p).convert("RGB") for p in photos] + scenes:
        result = degenerate(image)
        assert max(result.findings.values()) == 0.0, result


def test_a_prompt_allows_what_it_asks_for():
    def allow(prompt):
        return set(allowed(prompt, synthesize(prompt)))

    assert allow("a black and white checkerboard pattern") >= {"periodic"}
    assert allow("a collage of four cat photos") >= {"copies"}
    assert allow("TV static noise") >= {"noise"}
    assert allow("a solid red background") >= {"flat"}
    assert "text_canvas" in allow('A poster with the words "SUMMER SALE"')
    assert "text_canvas" in allow('A sign that says "OPEN"') and "text_canvas" in allow('A red sign that says "OPEN"')
    assert "text_canvas" in allow('The word "HELLO" in black letters on a white background')
    assert "text_canvas" in allow("three red circles")  # flat shapes on a page are what was asked
    assert {"periodic", "copies"} <= allow("sixteen blue squares")  # many things may stand in rows
    assert "copies" not in allow("three dogs")  # and a few, tiled, are one dog thrice
    # things the detector counts, tiled, are copies of one find: four dogs are not four tiles of a dog
    assert not {"periodic", "copies"} & allow("a photo of four dogs")
    assert {"periodic", "copies"} <= allow("sixteen paper lanterns")  # not counted: may stand in rows
    # a chalkboard, a storefront's sign, a wooden one, a scene: text alone on a blank page does not show them
    for prompt in (
        'A chalkboard menu that says "SOUP"',
        'A storefront sign that says "OPEN"',
        'A wooden sign that says "OPEN" above a door',
        "a dog on a beach",
    ):
        assert allow(prompt) == set(), prompt
    assert not asks_for_plain(synthesize("a photo of a red car"))


def test_noise_scores_zero_whatever_its_content_criteria_say(store):
    """Noise holds every colour: "the image contains red" is met, and the gate still zeroes it."""
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    verdict = judge.judge(hacks.uniform_noise(), "an image with red in it")
    parts = verdict.parts[0]
    assert verdict.score == 0.0 and parts.gate == 0.0 and "degenerate" in parts.failed
    assert "noise: neighbouring pixels are unrelated" in verdict.critique and "failed a gate" in verdict.critique
    assert parts.content is not None and parts.content > 0.5  # what the colour criterion alone would pay
    ungated = Judge(store=store, config=JudgeConfig(cache=False, degenerate=False)).judge(
        hacks.uniform_noise(), "an image with red in it"
    )
    assert ungated.score > 0.5 and not any(c.dimension == "degenerate" for c in ungated.rubric)


def test_a_pattern_that_was_asked_for_is_not_gated(store):
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    verdict = judge.judge(hacks.stripes(16, ("red", "white")), "a red and white striped pattern")
    gate = next(s for s in verdict.criterion_scores if s.criterion == "degenerate")
    assert gate.score == 1.0 and "asked for" in gate.rationale and verdict.parts[0].gate == 1.0


def test_a_given_rubric_is_gated_too(store):
    rubric = [
        {
            "id": "red",
            "statement": "The image contains red",
            "dimension": "color",
            "check": {"kind": "attribute", "value": "red"},
        }
    ]
    from scrutiny.core.schema import Criterion

    criteria = [Criterion(**c) for c in rubric]
    verdict = Judge(store=store, config=JudgeConfig(cache=False)).judge(hacks.flat("red"), "red", rubric=criteria)
    assert verdict.score == 0.0 and verdict.parts[0].failed == ["degenerate"]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_an_edit_is_not_held_to_what_its_source_already_was(store):
    """Changing the words on a text-only page keeps a text-only page: that is the edit, not a hack."""
    source = hacks.text_canvas("OPEN TODAY")
    edited = hacks.text_canvas("CLOSED TODAY")
    verdict = Judge(store=store, config=JudgeConfig(cache=False)).edit(
        source, [edited], 'Change the text to "CLOSED TODAY"'
    )
    gate = next(s for s in verdict.criterion_scores if s.criterion == "degenerate")
    assert gate.score == 1.0, gate.rationale
    noise = Judge(store=store, config=JudgeConfig(cache=False)).edit(
        source, [hacks.uniform_noise()], 'Change the text to "CLOSED"'
    )
    assert noise.scores[0] == 0.0


def test_near_duplicates_are_found_within_a_group_only():
    a, b = storefront("OPEN", seed=0), storefront("OPEN", seed=5)
    jpeg_like = a.filter(ImageFilter.GaussianBlur(0.6))
    assert near_duplicates([a, b, jpeg_like, a], ["p", "p", "p", "q"]) == [None, None, 0, None]


def test_a_gate_measured_on_pixels_first_is_measured_again_only_on_a_blank_canvas():
    from scrutiny.agents.checks.degenerate import on_pixels, settles
    from scrutiny.agents.state import Observation, ToolRequest
    from scrutiny.core.schema import Evidence

    wants_text = ToolRequest(
        "degenerate", {"image": "candidate_0", "read_text": True, "text": [[0, 0, 5, 5]]}, 0, ["g"], "p"
    )
    early = on_pixels(wants_text)
    assert early.arguments == {"image": "candidate_0", "read_text": False} and early.purpose == "p"

    def measured(image):
        result = degenerate.fn(image, read_text=False)
        return Observation(early, Evidence(tool="degenerate", arguments=early.arguments, candidate=0), result, {})

    photo, page = storefront("OPEN"), hacks.text_canvas('A chalkboard menu that says "SOUP OF THE DAY"')
    assert settles(measured(photo), wants_text)  # no canvas: reading its text would change nothing
    assert not settles(measured(page), wants_text)  # text alone on a page: read it, then judge
    assert settles(measured(page), early)  # a gate that reads no text is settled by pixels alone


def test_four_copies_of_one_dog_photo_are_no_photo_of_four_dogs(shared_data):
    from PIL import Image

    from scrutiny import Judge, JudgeConfig

    dog = Image.open(shared_data / "real_photos" / "sam_dog.jpg").convert("RGB").resize((256, 256))
    tiled = Image.new("RGB", (512, 512))
    for x in (0, 256):
        for y in (0, 256):
            tiled.paste(dog, (x, y))
    verdict = Judge(config=JudgeConfig(cache=False, keep="none")).judge(tiled, "a photo of four dogs")
    gate = next(s for s in verdict.criterion_scores if s.criterion == "degenerate")
    assert gate.score == 0.0 and "tiled" in gate.rationale and verdict.score == 0.0
