"""A verdict for people: a short repr, rich HTML in notebooks, a drawing with the boxes."""

import re

import numpy as np
import pytest

from scrutiny import Judge, JudgeConfig, Store, Verdict
from scrutiny.testing.scenes import fitted_sign, preference_pairs


def test_a_verdict_shows_itself_briefly_richly_and_drawn(tmp_path):
    judge = Judge(store=Store(home=tmp_path), config=JudgeConfig(cache=False))
    verdict = judge.judge(fitted_sign("OPNE NOW"), 'A sign that says "OPEN NOW"')
    text = repr(verdict)
    assert text.startswith("Verdict(score=0.") and "criteria checked" in text and len(text) < 200
    page = verdict._repr_html_()
    assert page.count("data:image/png;base64,") == 1 and "<rect" in page  # the image, with the OCR boxes
    assert "The image shows the text &quot;OPEN NOW&quot;, spelled exactly" in page and "OCR read" in page  # escaped
    drawing = verdict.show(width=300)
    assert drawing.size[0] == 300 and np.asarray(drawing).std() > 0


def test_an_edit_draws_source_and_candidates_and_a_foreign_verdict_still_shows(tmp_path):
    pair = preference_pairs("edit", 1, seed=1)[0]
    verdict = Judge(store=Store(home=tmp_path)).edit(pair.source, [pair.better, pair.worse], pair.prompt)
    assert "scores=[" in repr(verdict) and "preferred=0" in repr(verdict)
    assert verdict.show(width=200).size[0] == 3 * 200 + 2 * 8  # source, then the two edits
    foreign = Verdict.model_validate_json(verdict.model_dump_json())  # read from a file: no store
    assert "image not in the store" in foreign._repr_html_() and foreign.show(width=100).size[0] == 316


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_group_rewards_print_short(store):
    from scrutiny.core.aio import block_on
    from scrutiny.trainers.rewards import JudgeReward

    images = [fitted_sign("OPEN"), fitted_sign("OPNE"), fitted_sign("SHUT")]
    group = block_on(JudgeReward(judge=Judge(store=store)).ascore_group('The word "OPEN"', images))
    assert repr(group).startswith("GroupRewards(rewards=[") and len(repr(group)) < 120


def test_boxes_say_what_they_are_and_unchecked_is_a_dash(tmp_path, shared_data):
    """Overlapping boxes carry their class and confidence on the picture; an unchecked criterion shows
    "—", never "None"; a cell saved to a file keeps its charset."""
    judge = Judge(store=Store(home=tmp_path), config=JudgeConfig(cache=False))
    verdict = judge.judge(shared_data / "real_photos" / "sam_dog.jpg", "a photo of a dog next to a red camera")
    page = verdict._repr_html_()
    assert "<meta charset='utf-8'>" in page
    # the dog's box and the cat the detector also saw there, each labelled with its confidence
    assert re.search(r">[a-z ]*dog 0\.\d\d</text>", page) and re.search(r">[a-z ]*cat 0\.\d\d</text>", page)
    unchecked = [c for c in verdict.rubric if not c.checkable]
    assert unchecked and "None" not in page.split("<table>")[1] and "<td><b>—</b>" in page
    assert verdict.show(width=300).size[0] == 300


def test_the_viewer_shows_a_score_in_red_only_below_its_own_met():
    from scrutiny.viewer.markup import fmt

    assert "low" in fmt(0.85) and "low" not in fmt(0.85, met=0.6) and "—" in fmt(None)
