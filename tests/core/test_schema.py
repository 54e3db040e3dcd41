import pytest
from pydantic import ValidationError

from scrutiny.core.schema import SCHEMA_VERSION, Criterion, CriterionScore, Task, Trace, Verdict


def test_score_outside_unit_interval_is_rejected():
    task = Task(kind="score", prompt="a cat", candidates=["h"])
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        Verdict(task=task, scores=[1.5])
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        CriterionScore(criterion="c", candidate=0, score=-0.1)


def test_none_is_an_abstention_not_zero():
    task = Task(kind="score", prompt="a cat", candidates=["h"])
    verdict = Verdict(task=task, scores=[None])
    assert verdict.abstained and verdict.score is None
    again = Verdict.model_validate_json(verdict.model_dump_json())
    assert again.scores == [None] and again.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("kind", "candidates", "source", "message"),
    [
        ("score", ["a", "b"], None, "takes 1"),
        ("compare", ["a"], None, "takes 2"),
        ("rank", ["a"], None, "at least 2"),
        ("edit", ["a"], None, "source"),
    ],
)
def test_task_shape_is_checked(kind, candidates, source, message):
    with pytest.raises(ValidationError, match=message):
        Task(kind=kind, prompt="p", candidates=candidates, source=source)


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError):
        Criterion(id="c", statement="s", dimensoin="text")


def test_trace_events_are_numbered_in_order():
    trace = Trace(task=Task(kind="score", prompt="p", candidates=["a"]))
    trace.add("node_enter", "route")
    trace.add("tool_call", "inspect", tool="ocr")
    assert [e.seq for e in trace.events] == [0, 1]
    assert trace.events[1].data == {"tool": "ocr"}


def test_ids_are_uuid4_and_stay_unique_across_seeding_and_fork():
    import os
    import random
    import uuid

    from scrutiny.core.schema import new_id

    random.seed(0)
    first = new_id()
    random.seed(0)  # a training script seeding the global generator must not repeat ids
    assert new_id() != first and uuid.UUID(first).version == 4 and len(first) == 32
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert len(child) == 32 and child != new_id()
