"""The relation room on the COCO detector's finds: a relation is no surer than the things it relates."""

from scrutiny.agents.checks.relation import score
from scrutiny.agents.state import Observation, ToolRequest
from scrutiny.core.schema import Criterion, Evidence, RelationCheck
from scrutiny.tools.detect import Detection, DetectResult


def _seen(found: list[Detection]) -> dict[str, Observation]:
    result = DetectResult(detections=found, counts={}, width=400, height=300)
    request = ToolRequest("detect", {}, 0, ["position_1"], "find objects")
    return {"find objects": Observation(request, Evidence(tool="detect"), result, {})}


def _left_of(a: str, b: str, seen) -> float:
    check = RelationCheck(relation="left of", subject=a, subject_detect=a, object=b, object_detect=b)
    return score(Criterion(id="position_1", statement="s", check=check), seen).score


def test_a_relation_is_no_surer_than_the_things_it_relates():
    bicycle = Detection(label="bicycle", box=(10, 200, 140, 290), score=0.95, detector="coco")
    bench = Detection(label="bench", box=(200, 210, 300, 290), score=0.95, detector="coco")
    faint_bench = bench.model_copy(update={"score": 0.2})
    assert _left_of("bicycle", "bench", _seen([bicycle, bench])) >= 0.9
    assert _left_of("bench", "bicycle", _seen([bicycle, bench])) == 0.0
    right = _left_of("bicycle", "bench", _seen([bicycle, faint_bench]))
    assert 0.0 < right < 0.5  # a faint bench: the right arrangement, barely seen
    assert _left_of("bench", "bicycle", _seen([bicycle, faint_bench])) == 0.0  # the flipped one earns nothing
    assert _left_of("bicycle", "dog", _seen([bicycle, bench])) == 0.0
