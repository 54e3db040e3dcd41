from typing import Literal

import pytest
from PIL import Image

from scrutiny.tools import REGISTRY, ImageArg, ToolError, ToolResult, get_tool, tool, tool_schemas
from scrutiny.tools.base import _build_tool


class Size(ToolResult):
    width: int
    height: int
    mode: str


def measure(image: ImageArg, mode: Literal["px", "mp"] = "px", note: str | None = None) -> Size:
    """Measure an image.

    Args:
        image: Which image.
        mode: How to report the size.
            Continued description.
        note: Free text.
    """
    if note == "bad":
        raise ToolError("note may not be 'bad'")
    return Size(width=image.width, height=image.height, mode=mode)


def test_schema_comes_from_signature_and_docstring():
    t = _build_tool(measure, "measure", "1")
    fn = t.schema()["function"]
    assert fn["name"] == "measure" and fn["description"] == "Measure an image."
    props = fn["parameters"]["properties"]
    assert props["image"] == {"type": "string", "description": "Which image."}
    assert (
        props["mode"]["enum"] == ["px", "mp"]
        and props["mode"]["description"] == "How to report the size. Continued description."
    )
    assert fn["parameters"]["required"] == ["image"]
    assert fn["parameters"]["additionalProperties"] is False


def test_invoke_resolves_image_names_to_pixels():
    t = _build_tool(measure, "measure", "1")
    call = t.invoke({"image": "candidate_0", "mode": "mp"}, {"candidate_0": Image.new("RGB", (7, 5))})
    assert call.error is None and call.result.model_dump() == {"width": 7, "height": 5, "mode": "mp"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"image": "nope"}, "no image named 'nope'; images in this conversation: candidate_0"),
        ({"image": "candidate_0", "mode": "inches"}, "invalid arguments for measure: mode"),
        ({"image": "candidate_0", "extra": 1}, "extra"),
        ({}, "image: Field required"),
        ({"image": "candidate_0", "note": "bad"}, "note may not be 'bad'"),
    ],
)
def test_mistakes_come_back_as_errors_the_model_can_read(arguments, message):
    t = _build_tool(measure, "measure", "1")
    call = t.invoke(arguments, {"candidate_0": Image.new("RGB", (7, 5))})
    assert call.result is None and message in call.error


def test_other_exceptions_are_bugs_and_propagate():
    def broken(image: ImageArg) -> Size:
        """Always fails."""
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        _build_tool(broken, "broken", "1").invoke({"image": "a"}, {"a": Image.new("RGB", (1, 1))})


def test_registry_holds_the_built_in_tools_and_refuses_duplicates():
    assert {"crop", "zoom", "ocr", "text_match", "detect", "palette", "diff", "quality", "safety"} <= set(REGISTRY)
    assert [s["function"]["name"] for s in tool_schemas(["ocr", "crop"])] == ["ocr", "crop"]
    with pytest.raises(ToolError, match="no tool named 'paint'"):
        get_tool("paint")
    with pytest.raises(ValueError, match="already registered"):
        tool(measure, name="crop")


def test_tool_stays_callable_as_the_plain_function():
    crop = get_tool("crop")
    result = crop(Image.new("RGB", (1000, 1000)), [0, 0, 500, 500])
    assert result.box_px == (0, 0, 500, 500)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_infinite_arguments_go_back_to_the_caller(bad):
    from PIL import Image

    from scrutiny.tools import REGISTRY

    call = REGISTRY["crop"].invoke(
        {"image": "x", "box": [0, 0, bad, 5], "units": "pixel"}, {"x": Image.new("RGB", (8, 8))}
    )
    assert call.result is None and "NaN or infinite" in call.error


def test_inline_tools_run_on_the_loop_thread_and_the_rest_in_workers(monkeypatch):
    """A cheap tool that holds the GIL (`inline=True`, the degenerate gate) runs on the event loop's
    thread, the others in worker threads; answers come back in the order asked, and a bug in an
    inline tool propagates."""
    import asyncio
    import threading

    from scrutiny.agents.judge import _calls
    from scrutiny.agents.state import ToolRequest

    threads = {}

    def make(name: str, inline: bool):
        def fn(image: ImageArg, note: str | None = None) -> Size:
            """Record the thread."""
            if note == "bug":
                raise ZeroDivisionError
            threads[name] = threading.get_ident()
            return Size(width=image.width, height=image.height, mode=name)

        built = _build_tool(fn, name, "1")
        built.inline = inline
        monkeypatch.setitem(REGISTRY, name, built)

    make("here", True)
    make("there", False)
    images = {"a": Image.new("RGB", (3, 2))}
    requests = [ToolRequest(n, {"image": "a"}, 0, [], n) for n in ("there", "here", "there")]

    async def run(requests):
        return threading.get_ident(), await _calls(requests, images, {"here", "there"}, {})

    loop_thread, calls = asyncio.run(run(requests))
    assert [c.result.mode for c in calls] == ["there", "here", "there"]
    assert threads["here"] == loop_thread and threads["there"] != loop_thread
    assert REGISTRY["degenerate"].inline and not REGISTRY["ocr"].inline
    with pytest.raises(ZeroDivisionError):
        asyncio.run(
            run(
                [
                    ToolRequest("there", {"image": "a"}, 0, [], "x"),
                    ToolRequest("here", {"image": "a", "note": "bug"}, 0, [], "y"),
                ]
            )
        )


def test_memo_tools_answer_the_same_pixels_and_arguments_once(monkeypatch):
    """A `memo` tool's result is kept by the images' content and the arguments: the same pixels under
    another name or in another judgment are not measured again; other pixels, other arguments, a tool
    that is not `memo`, a produced image (a crop) or a detector registered since are."""
    from scrutiny.tools.base import RESULTS, Results
    from scrutiny.tools.detect import DETECTORS, register_detector

    calls = []
    real = REGISTRY["quality"].fn

    def counted(image, **kwargs):
        calls.append(image.size)
        return real(image, **kwargs)

    monkeypatch.setattr(REGISTRY["quality"], "fn", counted)
    a, b = Image.new("RGB", (64, 48), (200, 30, 30)), Image.new("RGB", (64, 48), (30, 30, 200))
    quality = REGISTRY["quality"]
    first = quality.invoke({"image": "x"}, {"x": a}, {"x": "hash-a"})
    again = quality.invoke({"image": "y"}, {"y": a.copy()}, {"y": "hash-a"})  # same pixels, another name
    assert calls == [(64, 48)] and again.result is first.result
    quality.invoke({"image": "x"}, {"x": b}, {"x": "hash-b"})
    quality.invoke({"image": "x"}, {"x": b}, None)  # no hashes: nothing kept or reused
    assert len(calls) == 3

    crop = REGISTRY["crop"]
    assert not crop.memo and quality.memo and REGISTRY["ocr"].memo and REGISTRY["detect"].memo
    RESULTS.put("produced", crop(a, [0, 0, 10, 10], "pixel"))
    assert RESULTS.get("produced") is None  # a crop's image is the judge's to keep, not the memo's

    RESULTS.put("kept", first.result)
    monkeypatch.setitem(DETECTORS, "shapes", DETECTORS["shapes"])
    register_detector(DETECTORS["shapes"])  # a detector registered: earlier finds may be stale
    assert RESULTS.get("kept") is None

    small = Results(size=2)
    for k in range(3):
        small.put(str(k), first.result)
    assert small.get("0") is None and small.get("2") is first.result


def test_a_benchmark_can_keep_no_tool_results(monkeypatch):
    """`keep_tool_results(0)`: nothing kept here, nor in the processes started from here."""
    import os

    from scrutiny.tools.base import RESULTS, keep_tool_results

    monkeypatch.setenv("SCRUTINY_TOOL_RESULTS", "256")
    monkeypatch.setattr(RESULTS, "size", RESULTS.size)
    keep_tool_results(0)
    quality = REGISTRY["quality"]
    first = quality.invoke({"image": "x"}, {"x": Image.new("RGB", (8, 8))}, {"x": "h"})
    again = quality.invoke({"image": "x"}, {"x": Image.new("RGB", (8, 8))}, {"x": "h"})
    assert again.result is not first.result and os.environ["SCRUTINY_TOOL_RESULTS"] == "0"


@pytest.mark.slow
def test_judgments_of_the_same_image_measure_it_once(monkeypatch, store):
    """Two prompts about one image: the second judgment reuses the first's measures, and its evidence
    holds the same outputs."""
    from scrutiny import Judge, JudgeConfig

    calls = []
    real = REGISTRY["quality"].fn
    monkeypatch.setattr(REGISTRY["quality"], "fn", lambda image, **kw: calls.append(1) or real(image, **kw))
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    one = judge.judge(image, "a red square")
    two = judge.judge(image.copy(), "a square that is red")
    assert len(calls) == 1
    outputs = [[e.output for e in v.evidence if e.tool == "quality"] for v in (one, two)]
    assert outputs[0] == outputs[1] and outputs[0]
    judge.judge(Image.new("RGB", (64, 48), (30, 30, 200)), "a blue square")
    assert len(calls) == 2
