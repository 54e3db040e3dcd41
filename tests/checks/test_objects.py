"""The object room on the COCO detector's finds: contested finds, and faces that support a person."""

from scrutiny.agents.checks.objects import FACES_IN_PERSON, count_distribution, look_closer, score, steps
from scrutiny.agents.state import Observation, ToolRequest
from scrutiny.core.schema import Criterion, Evidence, ObjectCheck
from scrutiny.tools.detect import Detection, DetectResult


def _seen(objects: list[Detection], faces: list[Detection] = ()) -> dict[str, Observation]:
    def observed(purpose, found):
        result = DetectResult(detections=list(found), counts={}, width=400, height=400)
        return Observation(ToolRequest("detect", {}, 0, ["object_1"], purpose), Evidence(tool="detect"), result, {})

    return {"find objects": observed("find objects", objects), "find faces": observed("find faces", faces)}


def _presence(noun: str, seen) -> float:
    c = Criterion(id="object_1", statement=f"The image shows a {noun}", check=ObjectCheck(object=noun, detect=noun))
    return score(c, seen).score


def test_a_find_the_detector_also_calls_something_else_is_never_met():
    seen = _seen(
        [
            Detection(label="cow", box=(10, 10, 110, 110), score=0.97, detector="coco"),
            Detection(label="dog", box=(10, 12, 110, 112), score=0.94, detector="coco"),
        ]
    )
    assert _presence("cow", seen) < 0.9 and _presence("dog", seen) < 0.9  # contested: neither is met
    assert _presence("dog", seen) < _presence("cow", seen)  # the less confident of the two scores lower
    assert _presence("horse", seen) == 0.0


def test_a_face_inside_a_person_supports_it_and_never_replaces_it():
    person = Detection(label="person", box=(100, 50, 300, 400), score=0.6, detector="coco")
    inside = Detection(label="face", box=(170, 70, 230, 130), detector="faces")
    elsewhere = Detection(label="face", box=(320, 10, 380, 70), detector="faces")
    alone = _presence("person", _seen([person]))
    supported = _presence("person", _seen([person], [inside]))
    assert alone < supported < 1.0 and supported >= 0.9
    assert _presence("person", _seen([person], [elsewhere])) == alone
    assert _presence("person", _seen([], [inside])) == 0.0  # a face alone is no person
    person_check = Criterion(id="object_1", statement="s", check=ObjectCheck(object="person", detect="person"))
    assert steps(person_check) == ["objects", FACES_IN_PERSON]


def test_faces_are_looked_for_only_in_the_person_found_and_only_once():
    """A face supports only the person whose box it lies in: the search is of that box, after the
    detector has looked, and not at all where it found no person."""
    person = Detection(label="person", box=(100, 50, 300, 400), score=0.6, detector="coco")
    check = ObjectCheck(object="person", detect="person")
    state = {"rubric": [Criterion(id="object_1", statement="The image shows a person", check=check)]}
    seen = _seen([person])
    del seen["find faces"]
    (request,) = look_closer(state, 0, ["object_1"], seen)
    assert request.tool == "detect" and request.purpose == "find faces"
    assert request.arguments == {"image": "candidate_0", "query": "face", "box": [100, 50, 300, 400], "units": "pixel"}
    assert look_closer(state, 0, ["object_1"], _seen([person])) == []  # faces already looked for
    nobody = _seen([Detection(label="dog", box=(0, 0, 50, 50), score=0.9, detector="coco")])
    del nobody["find faces"]
    assert look_closer(state, 0, ["object_1"], nobody) == []  # no person: nothing for a face to support


def test_counts_of_learned_finds_are_the_probability_of_exactly_so_many():
    assert count_distribution([1.0, 0.5]) == [0.0, 0.5, 0.5]
    assert abs(sum(count_distribution([0.9, 0.3, 0.6])) - 1) < 1e-12

    def count(n: int, found: list[float]) -> float:
        people = [
            Detection(label="person", box=(k * 60, 10, k * 60 + 50, 200), score=s, detector="coco")
            for k, s in enumerate(found)
        ]
        check = ObjectCheck(object="person", detect="person", count=n)
        return score(Criterion(id="object_1", statement=f"{n} people", check=check), _seen(people)).score

    clear = [0.99, 0.98, 0.97]
    assert count(3, clear) > 0.8 and count(2, clear) < 0.2 and count(4, clear) == 0.0  # one might be no person
    assert count(4, clear) < count(4, clear + [0.3]) < count(4, clear + [0.6])  # a fourth, more surely seen
    assert count(3, clear + [0.6]) < count(3, clear)  # and three less surely exactly three


def test_at_least_is_the_probability_that_so_many_are_there():
    """ "a man and a woman": at least two people. A faint second find makes two possible, not certain,
    and the rationale states P(at least 2), as it states P(exactly n) for a count."""
    sure = Detection(label="person", box=(10, 10, 110, 300), score=0.95, detector="coco")
    faint = Detection(label="person", box=(200, 10, 300, 300), score=0.3, detector="coco")
    check = ObjectCheck(object="person", phrase="people", detect="person", at_least=2)
    c = Criterion(id="count_1", statement="There are at least 2 people", check=check)
    one, two_faint, two = (score(c, _seen(found)) for found in ([sure], [sure, faint], [sure, sure.model_copy()]))
    assert one.score < two_faint.score < two.score
    assert "P(at least 2)" in two.rationale
    exactly = Criterion(
        id="count_2",
        statement="There are exactly 2 people",
        check=check.model_copy(update={"at_least": None, "count": 2}),
    )
    assert "P(exactly 2)" in score(exactly, _seen([sure, sure.model_copy()])).rationale
