import json
import subprocess
import sys
from pathlib import Path

import pytest

from scrutiny.agents.rubric import edit_action, load_rubric, quoted_texts, synthesize

ROOT = Path(__file__).resolve().parents[1]


def _by_dim(criteria, dimension):
    return [c for c in criteria if c.dimension == dimension]


@pytest.mark.parametrize(
    ("prompt", "texts"),
    [
        ('A sign that says "OPEN 24 HOURS"', ["OPEN 24 HOURS"]),
        ("A mug with 'Best Dad' printed on it", ["Best Dad"]),
        ("A poster titled “Summer Sale” and ‘50% off’", ["Summer Sale", "50% off"]),
        ('Two signs: "ENTER" on the left and "EXIT" on the right', ["ENTER", "EXIT"]),
        ("It's a cat's toy, nothing quoted", []),
        ("A book «Les Misérables»", ["Les Misérables"]),
    ],
)
def test_quoted_text_in_every_quote_style(prompt, texts):
    assert quoted_texts(prompt) == texts
    assert [c.params["text"] for c in _by_dim(synthesize(prompt), "text")] == texts


@pytest.mark.parametrize(
    ("prompt", "count", "obj", "color"),
    [
        ("three red circles", 3, "circle", "red"),
        ("7 blue squares", 7, "square", "blue"),
        ("two boys", 2, "boy", None),
        ("a dozen eggs", 12, "egg", None),
        ("five drums", 5, "drum", None),
    ],
)
def test_counts_from_digits_and_number_words(prompt, count, obj, color):
    (c,) = _by_dim(synthesize(prompt), "count")
    assert (c.params["count"], c.params["object"], c.params["color"]) == (count, obj, color)


def test_times_and_durations_are_not_counts():
    assert _by_dim(synthesize("a clock showing 3 o'clock after two hours"), "count") == []


def test_colours_are_bound_to_their_objects():
    colors = _by_dim(synthesize("a green bench and a blue bowl"), "color")
    assert [(c.params["color"], c.params["object"]) for c in colors] == [("green", "bench"), ("blue", "bowl")]
    # a colour word used as a noun: "a red orange"
    assert [(c.params["color"], c.params["object"]) for c in _by_dim(synthesize("a red orange"), "color")] == [
        ("red", "orange")
    ]


@pytest.mark.parametrize(
    ("prompt", "relation", "subject", "obj"),
    [
        ("a red circle to the left of a blue square", "left of", "circle", "square"),
        ("a cat on top of a car", "on top of", "cat", "car"),
        ("a lamp next to a giraffe", "next to", "lamp", "giraffe"),
        ("a bird above a tree", "above", "bird", "tree"),
        ("a ball below a table", "below", "ball", "table"),
        ("a dog in front of a desk", "in front of", "dog", "desk"),
        ("a girl on the right of a frog", "right of", "girl", "frog"),
    ],
)
def test_spatial_relations(prompt, relation, subject, obj):
    (c,) = _by_dim(synthesize(prompt), "position")
    assert (c.params["relation"], c.params["subject"], c.params["object"]) == (relation, subject, obj)


def test_only_relations_between_detectable_shapes_are_checkable_offline():
    assert _by_dim(synthesize("a red circle to the left of a blue square"), "position")[0].checkable
    assert not _by_dim(synthesize("a dog to the left of a cat"), "position")[0].checkable


def test_negations():
    criteria = synthesize("a castle with no moat, a man without gloves, and no red circles")
    negated = [c for c in criteria if c.params.get("negated")]
    assert {c.params["object"] for c in negated} >= {"moat", "glove", "circle"}
    assert [c.checkable for c in negated if c.params["object"] == "circle"] == [True]
    assert [c.checkable for c in negated if c.params["object"] == "moat"] == [False]
    (no_text,) = _by_dim(synthesize("a quiet street without text"), "text")
    assert no_text.params == {"text": "", "negated": True}


def test_unverifiable_criteria_are_kept_and_marked():
    criteria = synthesize("two pandas in the style of classical ink painting")
    style = [c for c in criteria if c.params.get("style")]
    assert style and not style[0].checkable
    assert not _by_dim(criteria, "count")[0].checkable  # pandas: no offline panda detector


@pytest.mark.parametrize(
    ("instruction", "action"),
    [
        ("Add a green bowl on the branch", "add"),
        ("Remove the red circle", "remove"),
        ("Replace the dog with a cat", "replace"),
        ("Change the color of the car to blue", "recolor"),
        ("Make the cat bigger", "resize"),
        ("Move the lamp to the left", "move"),
        ("Turn the photo into a watercolor painting", "style"),
        ('Change the text on the sign to "CLOSED"', "text"),
    ],
)
def test_edit_actions(instruction, action):
    assert edit_action(instruction) == action


def test_edit_rubric_has_target_and_preservation():
    criteria = synthesize("Add a green bowl on the branch", edit=True)
    checks = {c.params.get("check") for c in criteria}
    assert {"change_present", "changed_region_color", "outside_region"} <= checks
    (color,) = _by_dim(criteria, "color")
    assert color.params["color"] == "green"
    text_edit = synthesize('Change the text on the sign to "CLOSED"', edit=True)
    assert [c.params["text"] for c in _by_dim(text_edit, "text")] == ["CLOSED"]


def test_synthesis_is_cached_and_returns_independent_copies():
    a = synthesize('A sign "HELLO"', library_version="v1")
    a[0].statement = "changed"
    assert synthesize('A sign "HELLO"', library_version="v1")[0].statement != "changed"
    with pytest.raises(ValueError, match="prompt is empty"):
        synthesize("  ")


def test_rubric_files(tmp_path):
    yaml_file = tmp_path / "r.yaml"
    yaml_file.write_text(
        "- The cat is orange\n- statement: The sign says HI\n  dimension: text\n  params: {text: HI}\n"
    )
    criteria = load_rubric(yaml_file)
    assert [c.origin for c in criteria] == ["given", "given"]
    assert not criteria[0].checkable and criteria[1].params == {"text": "HI"} and criteria[1].checkable
    json_file = tmp_path / "r.json"
    json_file.write_text(json.dumps([{"statement": "x", "dimension": "nonsense"}]))
    with pytest.raises(ValueError, match="item 1, dimension"):
        load_rubric(json_file)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_rubric(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="does not exist"):
        load_rubric(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_real_prompt_sets(shared_data):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rubric_coverage.py"), "--json", "--data", str(shared_data)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["flow_grpo"]["exact"] == report["flow_grpo"]["prompts"] == 1018
    unigen = report["unigenbench"]["per_kind"]
    assert unigen["text"] >= 0.95 and unigen["count"] >= 0.9 and unigen["color"] >= 0.9
    assert report["unigenbench"]["overall"] >= 0.85
    compbench = report["t2i_compbench"]
    assert compbench["numeracy"]["covered"] >= 0.95 and compbench["spatial"]["covered"] >= 0.95
    assert compbench["color"]["covered"] >= 0.8
