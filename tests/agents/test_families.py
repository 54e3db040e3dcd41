"""Model families as they really answer: profiles picked by name, each family's box frame mapped to the
pixels it meant (crops of crops too), and answers with reasoning, wrappers, fences, prose and
tool calls in each family's text form, from the fake server emulating the family."""

import base64
import io
import json

import pytest
from PIL import Image

from scrutiny import Criterion, Judge, JudgeConfig
from scrutiny.agents.families import (
    FAMILIES,
    answer_json,
    family_for,
    family_named,
    smart_resize,
    text_tool_calls,
)
from scrutiny.agents.model import ModelPolicy, _score_distributions
from scrutiny.backends import OpenAIBackend
from scrutiny.core.protocol import Completion
from scrutiny.testing.fake_server import FakeServer, Reply
from scrutiny.testing.scenes import storefront
from scrutiny.tools import REGISTRY

RUBRIC = [Criterion(id="text_1", statement='The sign reads "OPEN"', dimension="text", params={"text": "OPEN"})]
REGION = (160, 192, 320, 288)  # in the 640 x 480 candidate: x 25-50 %, y 40-60 %


@pytest.mark.parametrize(
    "served, family",
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
        ("Qwen/Qwen3-VL-8B-Thinking", "qwen3-vl-thinking"),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3-vl"),
        ("Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl"),
        ("OpenGVLab/InternVL3-8B", "internvl3"),
        ("zai-org/GLM-4.5V", "glm-4.5v"),
        ("google/gemma-3-12b-it", "gemma3"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4"),
        ("fake-vl", "generic"),
    ],
)
def test_a_family_is_chosen_from_the_served_name(served, family):
    assert family_for(served).name == family


def test_every_profile_cites_its_sources_and_a_name_that_is_none_is_refused():
    for family in FAMILIES:
        assert family.sources and all(s.strip() for s in family.sources)
    with pytest.raises(ValueError, match="no model family 'qwen9'"):
        family_named("qwen9")


def test_qwen25_resize_rule_keeps_multiples_of_28_within_the_budget():
    qwen = family_named("qwen2.5-vl")
    assert smart_resize(1920, 1080, 28, qwen.min_pixels, qwen.max_pixels) == (1316, 728)
    assert qwen.shown_size(640, 480) == (644, 476)
    w, h = qwen.shown_size(160, 96)  # a small crop is scaled up to the least budget
    assert w % 28 == h % 28 == 0 and w * h >= qwen.min_pixels


def crop_tool(image, **arguments):
    return REGISTRY["crop"](image, **arguments)


def test_images_are_sent_no_larger_than_the_family_will_see_them():
    assert family_named("gemma3").sent_size(1792, 1024) == (896, 512)  # its processor's 896 a side
    assert family_named("gemma3").sent_size(640, 480) == (640, 480)
    assert family_named("qwen2.5-vl").sent_size(1920, 1080) == (1316, 728)  # its frame, exactly
    assert family_named("generic").sent_size(4000, 3000) == (4000, 3000)


def _in_frame(family, box, width, height):
    """`box` (pixels of a width x height image) as the family writes it."""
    if family.frame == "norm1000":
        return [round(v * 1000 / s) for v, s in zip(box, (width, height, width, height))]
    shown_w, shown_h = family.shown_size(width, height)
    return [round(v * f) for v, f in zip(box, (shown_w / width, shown_h / height) * 2)]


@pytest.mark.slow  # a judgment per family against a real local server: over 1 s in all
@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_each_family_crops_the_pixels_it_meant_and_its_answer_is_read(name, store):
    family = family_named(name)
    image = storefront("OPEN", size=640).resize((640, 480))
    first = crop_tool(image, box=list(REGION), units="pixel")  # the crop the model will see as crop_1
    inner = (0, 0, first.width // 2, first.height)  # its left half, in its own pixels
    server = FakeServer(family=name).start()
    server.push(
        Reply(
            tool_calls=[
                {"name": "crop", "arguments": {"image": "candidate_0", "box": _in_frame(family, REGION, 640, 480)}}
            ]
        ),
        Reply(
            tool_calls=[
                {
                    "name": "crop",
                    "arguments": {"image": "crop_1", "box": _in_frame(family, inner, first.width, first.height)},
                }
            ]
        ),
        Reply(content="Seen enough."),
        Reply(content=json.dumps({"criteria": [{"id": "text_1", "score": 4, "rationale": "reads OPEN"}]})),
    )
    try:
        backend = OpenAIBackend([server.url], "fake-vl", backoff_s=0.01)
        policy = ModelPolicy(backend, synthesize_rubric=False, family=name, top_logprobs=None)
        verdict = Judge(policy=policy, store=store, config=JudgeConfig(cache=False)).judge(
            image, "a sign", rubric=RUBRIC
        )
    finally:
        server.stop()
    crops = [e for e in verdict.evidence if e.tool == "crop"]
    assert len(crops) == 2
    # the pixels cut, whatever frame the model wrote in: the region, then the left half of crop_1 as it came
    # out (a box mapped through a frame and back may be a pixel off, and crop_1's size with it)
    w1, h1 = crops[0].output["width"], crops[0].output["height"]
    for crop, want in zip(crops, (REGION, (0, 0, w1 / 2, h1))):
        assert all(abs(a - b) <= 3 for a, b in zip(crop.output["box_px"], want)), (name, crop.output["box_px"], want)
    assert verdict.criterion_scores[0].score == 0.75  # the answer read through the family's habits
    sent = server.requests[0]["messages"][1]["content"]
    url = next(p["image_url"]["url"] for p in sent if p["type"] == "image_url")
    shown = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size
    assert shown == family.sent_size(640, 480)
    events = store.trace(verdict.trace_id).events
    assert not [e for e in events if e.kind == "parse_failure"]
    assert {e.data["family"] for e in events if e.kind == "model_request"} == {name}


@pytest.mark.parametrize(
    "content",
    [
        '<think>I compare {the sign} with "OPEN".</think>\n{"criteria": []}',
        'It reads well.\n</think>\n\n{"criteria": []}',  # the template opened the block
        '<|begin_of_box|>{"criteria": []}<|end_of_box|>',
        '<answer>{"criteria": []}</answer>',
        '```json\n{"criteria": []}\n```\nThat is my verdict {final}.',
        'Here is the JSON: {"criteria": []} -- scored above.',
    ],
)
def test_answers_survive_reasoning_wrappers_fences_and_prose(content):
    assert json.loads(answer_json(content)) == {"criteria": []}


def test_an_answer_with_no_object_is_a_parse_failure_with_a_reason():
    for content in ("", "<think>{not yet}</think> I cannot tell.", None):
        with pytest.raises(ValueError, match="empty|no JSON object"):
            answer_json(content)


def test_tool_calls_are_read_in_every_family_form():
    want = [("crop", {"image": "candidate_0", "box": [1, 2, 3, 4]})]
    hermes = '<tool_call>{"name": "crop", "arguments": {"image": "candidate_0", "box": [1, 2, 3, 4]}}</tool_call>'
    glm = "<tool_call>crop<arg_key>image</arg_key><arg_value>candidate_0</arg_value><arg_key>box</arg_key><arg_value>[1, 2, 3, 4]</arg_value></tool_call>"
    pythonic = "[crop(image='candidate_0', box=[1, 2, 3, 4])]"
    for text in (hermes, glm, pythonic, "<think>maybe ocr?</think>" + hermes):
        assert text_tool_calls(text) == want
    assert text_tool_calls('<tool_call>{"name": crop}</tool_call>')[0][1] == {"_unparsable": '{"name": crop}'}


def test_a_score_in_several_tokens_keeps_later_criteria_on_their_ids():
    from scrutiny.core.protocol import TokenLogprob

    tokens = ['{"criteria": [{"id": "a", "score', '": 4', ".5", '}, {"id": "b", "score": ', "3", "}]}"]
    logprobs = [TokenLogprob(token=t, logprob=-0.1, top={"3": -0.1, "2": -2.3} if t == "3" else {}) for t in tokens]
    out = _score_distributions(Completion(content="".join(tokens), logprobs=logprobs), ["a", "b"])
    assert list(out) == ["b"] and out["b"]["3"] > 0.8


@pytest.mark.slow  # a bench of two pairs against a real local server: over 1 s
def test_bench_reports_order_disagreement_and_parse_failures_per_family(tmp_path, store):
    """A GLM-4.5V-like server (wrappers, reasoning) that always prefers the first image shown: every
    pairwise judgment's two orders disagree, and bench says so for that family."""
    import asyncio
    import re

    from scrutiny.agreement import Preference, abench

    def respond(request):
        text = json.dumps(request["messages"])
        if "Image A:" in text:
            return Reply(content=json.dumps({"preferred": "A"}))  # position bias, in full
        if "Final answer for" in text:
            ids = re.findall(r"- (\w+): ", request["messages"][1]["content"][0]["text"])
            return Reply(content=json.dumps({"criteria": [{"id": i, "score": 3, "rationale": "r"} for i in ids]}))
        return Reply(content="Seen enough.")

    for k in range(4):
        storefront("OPEN", size=128, seed=k).save(tmp_path / f"{k}.png")
    items = [
        Preference(
            prompt='A sign that says "OPEN"', images=[str(tmp_path / f"{2 * k + j}.png") for j in (0, 1)], preferred=0
        )
        for k in (0, 1)
    ]
    server = FakeServer(model="GLM-4.5V", family="glm-4.5v", responder=respond).start()
    try:
        backend = OpenAIBackend([server.url], "GLM-4.5V", backoff_s=0.01)
        policy = ModelPolicy(backend, synthesize_rubric=False, top_logprobs=None)
        assert policy.family.name == "glm-4.5v"  # chosen from the served name
        result = asyncio.run(abench(Judge(policy=policy, store=store, config=JudgeConfig(cache=False)), items))
    finally:
        server.stop()
    habits = result.metrics["families"]["glm-4.5v"]
    assert habits["pairwise"] == 2 and habits["order_disagreement"] == 1.0
    assert habits["parse_failures"] == 0 and habits["requests"] >= 8  # wrapped, reasoned answers all read
