"""Vision-language model families as they really answer: the frame their boxes are in, how they call
tools, what they write around an answer, and what vLLM needs to serve them.

A profile is chosen from the served model's name (`family_for`) or given (`ModelPolicy(family=...)`,
`scrutiny serve --family`). What each profile says is taken from the model card or vLLM's
documentation named in its `sources`; what could not be confirmed there is listed in `unconfirmed`,
and the profile then keeps scrutiny's own convention (boxes in 0-1000 units, told in the prompt).

Frames:
- "norm1000": x and y in 0..1000 of the image shown, whatever its size.
- "resized_pixels": absolute pixels of the image as the model's processor resized it (Qwen2.5-VL:
  each side rounded to a multiple of `factor`, the area held within [min_pixels, max_pixels]).
A box is mapped to pixels of the image the model was shown by `Family.to_pixels`; a crop the model
asks for then lands on the pixels it meant, and a crop of a crop is one more image in its frame.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

Frame = Literal["norm1000", "resized_pixels"]


@dataclass(frozen=True)
class Family:
    name: str
    patterns: tuple[str, ...]
    """Lower-case pieces of a served model's name that pick this family, any one of them ("a+b": both
    pieces); the first family to match wins."""
    frame: Frame = "norm1000"
    factor: int = 28
    """With frame "resized_pixels": each side of the image the model sees is a multiple of this."""
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 16384 * 28 * 28
    send_max_side: int | None = None
    """Images are sent at most this many pixels on their longer side, where the family's processor
    shrinks them to a known size anyway (a 0-1000 frame does not move with it); None: as judged."""
    tool_parser: str | None = "hermes"
    """vLLM's `--tool-call-parser` for the family; None: tools go in the prompt as tags."""
    reasoning_parser: str | None = None
    """vLLM's `--reasoning-parser` (then the reasoning arrives apart from the answer)."""
    thinks: bool = False
    """Writes `<think>...</think>` before its answer (when no reasoning parser takes it out)."""
    wrappers: tuple[tuple[str, str], ...] = ()
    """Text the family puts around a final answer or a box (box tokens)."""
    box_hint: str = "Boxes are [x1, y1, x2, y2] in 0-1000 units of the image named, whatever its size."
    vllm_args: tuple[str, ...] = ()
    """Further vLLM flags the family needs (`scrutiny serve` sets the image limit for every family)."""
    sources: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = ()

    def shown_size(self, width: int, height: int) -> tuple[int, int]:
        """The size of the image as the model sees it (its frame for "resized_pixels")."""
        if self.frame != "resized_pixels":
            return width, height
        return smart_resize(width, height, self.factor, self.min_pixels, self.max_pixels)

    def sent_size(self, width: int, height: int) -> tuple[int, int]:
        """The size to send an image at: no larger than the model will see it."""
        if self.frame == "resized_pixels":
            return self.shown_size(width, height)
        if self.send_max_side is None or max(width, height) <= self.send_max_side:
            return width, height
        scale = self.send_max_side / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def to_pixels(self, box: list[float], width: int, height: int) -> list[int]:
        """A box the model gave in its frame, for an image of `width` x `height`, as pixels of that image."""
        x1, y1, x2, y2 = (float(v) for v in box)
        if self.frame == "resized_pixels":
            shown_w, shown_h = self.shown_size(width, height)
            sx, sy = width / shown_w, height / shown_h
        else:
            sx, sy = width / 1000, height / 1000
        x1, x2 = sorted((x1 * sx, x2 * sx))
        y1, y2 = sorted((y1 * sy, y2 * sy))
        return [
            max(0, min(width, math.floor(x1))),
            max(0, min(height, math.floor(y1))),
            max(0, min(width, math.ceil(x2))),
            max(0, min(height, math.ceil(y2))),
        ]

    def serve_args(self) -> list[str]:
        """vLLM flags for this family: tool and reasoning parsers, the processor's pixel budget where the
        frame depends on it (so the frame here and the server's resize agree), then `vllm_args`."""
        args = ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_parser] if self.tool_parser else []
        if self.reasoning_parser:
            args += ["--reasoning-parser", self.reasoning_parser]
        if self.frame == "resized_pixels":
            budget = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
            args += ["--mm-processor-kwargs", json.dumps(budget)]
        return args + list(self.vllm_args)


def smart_resize(width: int, height: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL/Qwen2.5-VL's resize rule (qwen-vl-utils `smart_resize`): each side rounded to a multiple
    of `factor`, the area scaled into [min_pixels, max_pixels] keeping the aspect."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


FAMILIES: tuple[Family, ...] = (
    Family(
        name="qwen3-vl-thinking",
        patterns=("qwen3-vl+thinking",),
        factor=32,
        reasoning_parser="qwen3",
        thinks=True,
        sources=(
            "https://huggingface.co/Qwen/Qwen3-VL-8B-Thinking (model card: thinking output, 0-1000 grounding)",
            "https://docs.vllm.ai/en/latest/features/reasoning_outputs.html (reasoning parsers)",
        ),
        unconfirmed=(
            "which vLLM reasoning parser the model card recommends: qwen3 (registered in vLLM 0.33.0) is assumed",
        ),
    ),
    Family(
        name="qwen3-vl",
        patterns=("qwen3-vl",),
        factor=32,
        sources=(
            "https://huggingface.co/Qwen/Qwen3-VL-8B-Instruct (model card: relative 0-1000 coordinates, patch 16 x merge 2)",
            "https://qwen.readthedocs.io/en/latest/framework/function_call.html (hermes tool calls in vLLM)",
        ),
        unconfirmed=(
            "its processor's pixel budget: images are sent as judged (the 0-1000 frame does not move with it)",
        ),
    ),
    Family(
        name="qwen2.5-vl",
        patterns=("qwen2.5-vl", "qwen2_5-vl", "qwen2.5vl"),
        frame="resized_pixels",
        min_pixels=256 * 28 * 28,
        max_pixels=1280 * 28 * 28,  # the model card's suggested budget, passed to vLLM's processor too
        box_hint="Boxes are [x1, y1, x2, y2] in pixels of the image named, as you see it.",
        sources=(
            "https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct (model card: absolute coordinates on the resized image; min/max_pixels)",
            "https://github.com/QwenLM/Qwen2.5-VL/blob/main/qwen-vl-utils/src/qwen_vl_utils/vision_process.py (smart_resize, factor 28)",
            "https://qwen.readthedocs.io/en/latest/framework/function_call.html (hermes tool calls in vLLM)",
        ),
    ),
    Family(
        name="qwen2-vl",
        patterns=("qwen2-vl",),
        wrappers=(("<|box_start|>", "<|box_end|>"), ("<|object_ref_start|>", "<|object_ref_end|>")),
        sources=("https://huggingface.co/Qwen/Qwen2-VL-7B-Instruct (model card: boxes in 0-1000 with box tokens)",),
        unconfirmed=("tool calling in vLLM for Qwen2-VL (hermes assumed, as for Qwen2.5)",),
    ),
    Family(
        name="internvl3",
        patterns=("internvl3", "internvl-3", "internvl2"),
        tool_parser=None,
        wrappers=(("<box>", "</box>"), ("<ref>", "</ref>")),
        vllm_args=("--trust-remote-code",),
        sources=(
            "https://huggingface.co/OpenGVLab/InternVL3-8B (model card: grounding as <ref>..</ref><box>[[x1, y1, x2, y2]]</box> in 0-1000)",
        ),
        unconfirmed=(
            "a vLLM tool parser for InternVL3: none is documented, so tools go in the prompt as tags",
            "the tile budget of its dynamic resolution: images are sent as judged",
        ),
    ),
    Family(
        name="glm-4.5v",
        patterns=("glm-4.5v", "glm-4.1v", "glm4.5v", "glm-4v", "glm4v"),
        tool_parser="glm45",
        reasoning_parser="glm45",
        thinks=True,
        wrappers=(("<|begin_of_box|>", "<|end_of_box|>"),),
        sources=(
            "https://huggingface.co/zai-org/GLM-4.5V (model card: answers and boxes in <|begin_of_box|>..<|end_of_box|>, 0-1000 coordinates, thinking)",
            "https://docs.vllm.ai/projects/recipes/en/latest/GLM/GLM-V.html (--tool-call-parser glm45 --reasoning-parser glm45)",
        ),
        unconfirmed=(
            "its processor's pixel budget: images are sent as judged (the 0-1000 frame does not move with it)",
        ),
    ),
    Family(
        name="gemma3",
        patterns=("gemma-3", "gemma3"),
        send_max_side=896,
        tool_parser="pythonic",
        sources=("https://huggingface.co/google/gemma-3-12b-it (model card: images normalised to 896 x 896)",),
        unconfirmed=(
            "a trained grounding frame (none is documented: scrutiny's 0-1000 convention, told in the prompt)",
            "the vLLM tool parser: pythonic is the closest documented fit",
            "pan-and-scan crops of large images (off in vLLM by default): images are sent at most 896 a side",
        ),
    ),
    Family(
        name="llama4",
        patterns=("llama-4", "llama4"),
        tool_parser="llama4_pythonic",
        sources=("https://docs.vllm.ai/en/latest/features/tool_calling.html (llama4_pythonic for Llama 4)",),
        unconfirmed=(
            "a trained grounding frame (scrutiny's 0-1000 convention, told in the prompt)",
            "the image budget of its tiling: images are sent as judged",
        ),
    ),
    Family(
        name="generic",
        patterns=(),
        sources=("scrutiny's own convention: boxes in 0-1000 units, tools as OpenAI tool calls or <tool_call> tags",),
    ),
)
GENERIC = FAMILIES[-1]


def family_for(model: str | None) -> Family:
    """The profile of a served model, from its name (all of a family's patterns must appear); generic
    where none matches."""
    name = (model or "").lower().replace("_", "-")
    for family in FAMILIES[:-1]:
        if any(all(part in name for part in p.replace("_", "-").split("+")) for p in family.patterns):
            return family
    return GENERIC


def family_named(name: str) -> Family:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise ValueError(f"no model family {name!r}: one of {', '.join(f.name for f in FAMILIES)}")


# answers as they really come


THINK = re.compile(r"<think>.*?</think>", re.S)
FENCE = re.compile(r"```(?:json)?")
WRAPPERS = ("<|begin_of_box|>", "<|end_of_box|>", "<answer>", "</answer>", "<|box_start|>", "<|box_end|>")


def answer_json(content: str | None) -> str:
    """The JSON object of an answer, as models write it: after a reasoning block (closed, or opened by the
    chat template and only closed in the answer), inside answer wrappers or a code fence, with prose
    before or after. The first object that parses wins."""
    if not content:
        raise ValueError("the answer was empty")
    text = THINK.sub(" ", content)
    if "</think>" in text:  # the template opened the block: the answer follows its end
        text = text.rsplit("</think>", 1)[1]
    for token in WRAPPERS:
        text = text.replace(token, " ")
    text = FENCE.sub(" ", text)
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return json.dumps(value)
    raise ValueError("the answer holds no JSON object")


GLM_CALL = re.compile(
    r"<tool_call>\s*([\w.-]+)\s*((?:<arg_key>.*?</arg_key>\s*<arg_value>.*?</arg_value>\s*)*)</tool_call>", re.S
)
GLM_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)
HERMES_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)
PYTHONIC = re.compile(r"\[\s*\w+\(.*\)\s*\]", re.S)


def text_tool_calls(content: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Tool calls written in an answer's text, in any family's form: hermes-style JSON in `<tool_call>`
    tags (Qwen, and scrutiny's tag format), GLM's XML-style keys and values in the same tags, or a
    pythonic list of calls (Llama 4, Gemma 3). (name, arguments) each; arguments that do not parse
    come back as {"_unparsable": text}, for the tool to refuse with a reason."""
    text = THINK.sub(" ", content or "")
    calls = []
    for match in HERMES_CALL.finditer(text):
        data = _object(match.group(1))
        arguments = data if "_unparsable" in data else data.get("arguments") or {}
        calls.append((str(data.get("name", "")), arguments))
    if calls:
        return calls
    for match in GLM_CALL.finditer(text):
        calls.append((match.group(1), {k.strip(): _value(v) for k, v in GLM_ARG.findall(match.group(2))}))
    if calls or not (found := PYTHONIC.search(text)):
        return calls
    return _pythonic(found.group(0))


def _object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {"_unparsable": text}
    return data if isinstance(data, dict) else {"_unparsable": text}


def _value(text: str) -> Any:
    """An XML-style argument's value: JSON where it parses (numbers, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def _pythonic(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`[crop(image="candidate_0", box=[1, 2, 3, 4]), ...]`: literal keyword arguments only."""
    import ast

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return []
    if not isinstance(tree.body, ast.List):
        return []
    calls = []
    for node in tree.body.elts:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            try:
                calls.append((node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}))
            except ValueError:
                calls.append((node.func.id, {"_unparsable": ast.unparse(node)}))
    return calls


def box_arguments(family: Family, arguments: dict[str, Any], sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A tool call's arguments with a box in the family's frame made pixels of the image it names (a box
    the model gave with explicit units is left as it said)."""
    box, image = arguments.get("box"), arguments.get("image")
    if family.frame == "norm1000" or "units" in arguments or image not in sizes:
        return arguments
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        return arguments
    return {**arguments, "box": family.to_pixels(box, *sizes[image]), "units": "pixel"}
