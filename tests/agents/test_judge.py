"""The judge graph with the offline policy, through the Judge API and an in-memory store."""

import pytest
from PIL import Image

from scrutiny import Judge, JudgeConfig
from scrutiny.core.schema import Criterion
from scrutiny.testing.scenes import Shape, fitted_sign, grid, preference_pairs, shapes, storefront

SIGN = 'The words "OPEN 24 HOURS"'


@pytest.fixture
def judge(store):
    return Judge(store=store)


def test_misspelled_sign_gets_evidence_a_closer_look_and_a_critique(judge, store):
    verdict = judge.judge(fitted_sign("OPNE 24 HOURS"), SIGN)
    assert 0.5 < verdict.score < 0.9
    assert 'OCR read "OPNE 24 HOURS", expected "OPEN 24 HOURS"' in verdict.critique
    tools = [e.tool for e in verdict.evidence]
    assert tools.count("ocr") == 2 and "zoom" in tools  # read, looked closer, read again
    (zoom,) = [e for e in verdict.evidence if e.tool == "zoom"]
    assert zoom.artifacts and store.artifact(zoom.artifacts[0]).width > 600
    (text,) = [s for s in verdict.criterion_scores if s.criterion == "text_1"]
    assert set(text.evidence) <= {e.id for e in verdict.evidence} and text.evidence


def test_correct_sign_needs_no_closer_look(judge):
    verdict = judge.judge(fitted_sign("OPEN 24 HOURS"), SIGN)
    assert [s.score for s in verdict.criterion_scores if s.criterion == "text_1"] == [1.0]
    assert "zoom" not in [e.tool for e in verdict.evidence]


def test_trace_records_every_node_and_tool_call_in_order(judge, store):
    verdict = judge.judge(fitted_sign("OPNE 24 HOURS"), SIGN)
    trace = store.trace(verdict.trace_id)
    nodes = [e.node for e in trace.events if e.kind == "node_exit"]
    assert nodes[:3] == ["route", "rubric", "inspect"] and nodes[-2:] == ["score", "aggregate"]
    calls = [e.data["tool"] for e in trace.events if e.kind == "tool_call"]
    assert calls == [e.tool for e in verdict.evidence]
    assert trace.verdict_id == verdict.id and store.verdict(verdict.id).scores == verdict.scores


def test_step_budget_stops_the_closer_look(store):
    verdict = Judge(store=store, config=JudgeConfig(max_steps=1)).judge(fitted_sign("OPNE 24 HOURS"), SIGN)
    assert "zoom" not in [e.tool for e in verdict.evidence]
    assert verdict.score is not None


def test_unverifiable_rubric_abstains_instead_of_guessing(judge):
    rubric = [Criterion(id="c1", statement="The cat looks happy", checkable=False)]
    verdict = judge.judge(storefront("HELLO"), "a happy cat", rubric=rubric)
    assert verdict.scores == [None] and verdict.abstained
    assert verdict.criterion_scores[0].score is None and "not checkable" in verdict.criterion_scores[0].rationale
    assert "not checked: The cat looks happy" in verdict.critique


def test_compare_of_identical_images_is_a_tie(judge):
    image = shapes(grid(2, "square", "blue"))
    verdict = judge.compare(image, image.copy(), "two blue squares")
    assert verdict.scores[0] == verdict.scores[1] and verdict.preferred is None


def test_rank_orders_by_count(judge):
    images = [shapes(grid(n, "circle", "red", cell=90)) for n in (1, 3, 2)]
    verdict = judge.rank(images, "three red circles")
    assert verdict.ranking[0] == 1 and verdict.preferred == 1


def test_colour_and_position_checks(judge):
    good = shapes([Shape("circle", "red", (40, 200, 180, 340)), Shape("square", "blue", (330, 200, 470, 340))])
    swapped = shapes([Shape("circle", "red", (330, 200, 470, 340)), Shape("square", "blue", (40, 200, 180, 340))])
    verdict = judge.compare(good, swapped, "a red circle to the left of a blue square")
    assert verdict.preferred == 0
    position = {s.candidate: s.score for s in verdict.criterion_scores if s.criterion == "position_1"}
    assert position == {0: 1.0, 1: 0.0}


def test_edit_with_several_edits_prefers_the_faithful_one(judge):
    pair = preference_pairs("edit", 1, seed=5)[0]
    verdict = judge.edit(pair.source, [pair.worse, pair.better], pair.prompt)
    assert verdict.preferred == 1
    assert "diff" in [e.tool for e in verdict.evidence]
    preservation = {s.candidate: s.score for s in verdict.criterion_scores if s.criterion == "preservation_1"}
    assert preservation[1] > preservation[0]
    assert "changed and structural similarity" in verdict.critique


def test_edit_that_changes_nothing_is_not_applied(judge):
    pair = preference_pairs("edit", 1, seed=2)[0]
    verdict = judge.edit(pair.source, pair.source.copy(), pair.prompt)
    applied = [s for s in verdict.criterion_scores if s.criterion == "object_1"]
    assert applied[0].score == 0.0 and "no change" in applied[0].rationale


def test_real_edit_examples(judge, shared_data):
    folder = shared_data / "editreward_examples"
    source = Image.open(folder / "source_img_1.png")
    edits = [Image.open(folder / f"target_img_{i}.png") for i in (1, 2, 3)]
    verdict = judge.edit(source, edits, "Add a green bowl on the branch")
    assert len(verdict.scores) == 3 and all(s is not None for s in verdict.scores)
    assert verdict.ranking is not None and sorted(verdict.ranking) == [0, 1, 2]
    # target 2 (1024 px, of a 500-px source) is the one edit with a green bowl plainly on the branch: the
    # bowl found in its own frame is where the diff, at the source's size, saw the change
    made = {s.candidate: s for s in verdict.criterion_scores if s.criterion == "object_2"}
    assert edits[1].size != source.size
    assert made[1].score == 1.0 and "where the image changed" in made[1].rationale
    assert verdict.ranking[0] == 1  # target 3's bowl covers the branch and more (collateral change)


def test_content_that_weighs_nothing_never_lets_quality_make_the_score(judge):
    """A skill library may weight a content dimension at 0; then quality alone would decide, and a
    blank but sharp image could win. The verdict abstains instead, and says why."""
    rubric = [
        Criterion(
            id="c1", statement='Says "OPEN"', dimension="text", weight=0.0, check={"kind": "text", "text": "OPEN"}
        ),
        Criterion(id="q1", statement="The image is sharp", dimension="quality", check={"kind": "quality"}),
    ]
    verdict = judge.judge(fitted_sign("OPEN"), "a sign", rubric=rubric)
    assert verdict.score is None and "weighs 0" in verdict.coverage[0].abstain_reason
    weighted = [rubric[0].model_copy(update={"weight": 1.0}), rubric[1]]
    assert judge.judge(fitted_sign("OPEN"), "a sign", rubric=weighted).score > 0.8  # the text met, quality 0.7
