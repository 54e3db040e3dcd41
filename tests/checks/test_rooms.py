"""Every check kind has its room, and the rooms are what the offline policy, refinement and skill
routing ask: adding a kind is one module plus one union member."""

import typing

import pytest

from scrutiny.agents import checks
from scrutiny.agents.rubric import synthesize
from scrutiny.core import schema
from scrutiny.core.schema import AttributeCheck, Criterion, EditCheck, ObjectCheck, RelationCheck, TextCheck


def check_kinds() -> set[str]:
    union = typing.get_args(typing.get_args(schema.Check)[0])
    return {typing.get_args(member.model_fields["kind"].annotation)[0] for member in union}


def test_every_kind_of_the_union_has_a_room_with_the_three_duties():
    assert check_kinds() == set(checks.ROOMS)
    for kind, room in checks.ROOMS.items():
        for duty in ("steps", "score", "restate"):
            assert callable(getattr(room, duty, None)), f"{kind}: no {duty}"


@pytest.mark.parametrize(
    ("check", "steps", "sentence"),
    [
        (TextCheck(text="OPEN"), ["ocr"], 'The text must read exactly "OPEN", letter by letter.'),
        (ObjectCheck(object="dog", detect="dog", count=2), ["objects"], "Show exactly 2 dog, no more and no fewer."),
        (AttributeCheck(attribute="color", value="red", word="red"), ["palette"], "The main subject must be red."),
        (
            RelationCheck(relation="left of", subject="cat", subject_detect="cat", object="dog", object_detect="dog"),
            ["objects"],
            "Place the cat left of the dog.",
        ),
        (EditCheck(aspect="outside_region"), ["diff"], "Change nothing outside the edited region."),
    ],
)
def test_a_room_plans_and_restates_its_kind(check, steps, sentence):
    c = Criterion(id="c", statement="s", check=check)
    assert checks.steps(c) == steps and checks.restate(c) == sentence


def test_the_dimension_follows_the_check():
    assert Criterion(id="c", statement="s", dimension="object", check=TextCheck(text="HI")).dimension == "text"
    assert Criterion(id="c", statement="s", check=ObjectCheck(object="cat", count=3)).dimension == "count"
    assert Criterion(id="c", statement="s", check=EditCheck(aspect="structure")).dimension == "preservation"
    assert Criterion(id="c", statement="s", dimension="safety").dimension == "safety"  # a judgment keeps its own
    for c in synthesize('three red circles left of a dog, with the words "SALE", in watercolor style'):
        assert c.dimension == (schema.dimension_of(c.check) or c.dimension)


def test_no_module_outside_the_rooms_switches_on_check_types():
    import ast
    from pathlib import Path

    root = Path(checks.__file__).resolve().parents[2]
    names = {"TextCheck", "ObjectCheck", "AttributeCheck", "RelationCheck", "EditCheck", "QualityCheck", "GlobalCheck"}
    found = []
    for path in [root / "agents" / "offline.py", root / "agents" / "refine_graph.py", root / "skills" / "router.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                if any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node.args[1])):
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_the_open_detector_is_a_kind_and_the_noun_is_the_checks_own():
    """Older rubrics wrote "open:NOUN"; they read as the kind "open", the noun being the object."""
    old = {"kind": "relation", "relation": "left of", "subject": "lamp", "subject_detect": "open:lamp", "object": "cat"}
    c = Criterion.model_validate({"id": "r", "statement": "s", "check": old})
    assert c.check.subject_detect == "open" and c.check.subject == "lamp"
    assert checks.steps(c) == ["open"]  # the open-vocabulary detector finds both
