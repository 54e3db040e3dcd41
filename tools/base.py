"""The tool mechanism: a decorator, a registry, JSON schemas for function calling, `ToolError`.

A tool is a plain typed function. Its signature is its schema and its docstring is what a model
reads. Image parameters are marked `Annotated[Image.Image, Injected]`: a model names an image
(`candidate_0`, `source`, `crop_3`) and the invoker passes the pixels, so no model ever writes
pixels or base64. Python callers call the tool like the function it wraps.

`ToolError` is a mistake the caller can fix (a box outside the image, an unknown image name);
it is shown to the model. Any other exception is a bug and stops the run.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import threading
import time
import typing
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model


class ToolError(Exception):
    """A mistake in a tool call that the caller (often a model) can see and correct."""


class Injected:
    """Marks an image parameter: the schema takes an image *name*, the function gets pixels."""


ImageArg = Annotated[Image.Image, Injected]


class ToolResult(BaseModel):
    """Base of every tool's result: JSON-serialisable, images excluded from the dump."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def produced_images(self) -> dict[str, Image.Image]:
        """Images this result adds to the conversation (a crop, a diff mask), by kind."""
        return {}


class ImageResult(ToolResult):
    """A result that is itself an image (crop, zoom)."""

    image: Image.Image = Field(exclude=True)

    def produced_images(self) -> dict[str, Image.Image]:
        return {"crop": self.image}


@dataclass(frozen=True)
class ToolCall:
    """A finished call: what was asked, what came back, how long it took."""

    name: str
    arguments: dict[str, Any]
    result: ToolResult | None
    error: str | None
    seconds: float


@dataclass
class Tool:
    name: str
    fn: Callable[..., ToolResult]
    description: str
    arguments: type[BaseModel]
    image_params: tuple[str, ...]
    version: str = "1"
    params_doc: dict[str, str] = field(default_factory=dict)
    inline: bool = False
    """Run on the caller's thread, not a worker: for cheap work made of many small numpy calls, which
    holds the GIL most of the time. In a worker thread beside an event loop each of those calls makes
    the loop wait for the GIL, and the loop then loses more time than the work costs (measured: the
    degenerate gate beside 64 model calls in flight halved the judgments a second)."""
    memo: bool = False
    """The result depends on nothing but the pixels and the arguments (and the detectors registered):
    a call made again on the same pixels is answered from `RESULTS`, as when several prompts or reward
    functions judge the same image."""

    def __call__(self, *args: Any, **kwargs: Any) -> ToolResult:
        return self.fn(*args, **kwargs)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema of this tool."""
        parameters = self.arguments.model_json_schema()
        parameters.pop("title", None)
        for props in parameters.get("properties", {}).values():
            props.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def invoke(
        self, arguments: Mapping[str, Any], images: Mapping[str, Image.Image], hashes: Mapping[str, str] | None = None
    ) -> ToolCall:
        """Run the tool from model-style arguments, resolving image names to pixels.

        Mistakes (bad arguments, unknown image names, `ToolError` raised by the tool) come back in
        `ToolCall.error`; any other exception propagates. With the images' content `hashes`, a `memo`
        tool's result for the same pixels and arguments is reused (`RESULTS`).
        """
        start = time.perf_counter()
        key = RESULTS.key(self, arguments, hashes) if self.memo and hashes is not None else None
        result = RESULTS.get(key) if key is not None else None
        if result is not None:
            return ToolCall(self.name, dict(arguments), result, None, time.perf_counter() - start)
        try:
            result = self.fn(**self._resolve(dict(arguments), images))
            error = None
        except ToolError as e:
            result, error = None, str(e)
        if key is not None and result is not None:
            RESULTS.put(key, result)
        return ToolCall(self.name, dict(arguments), result, error, time.perf_counter() - start)

    def _resolve(self, arguments: dict[str, Any], images: Mapping[str, Image.Image]) -> dict[str, Any]:
        for name, value in arguments.items():
            if not _finite(value):
                raise ToolError(f"invalid arguments for {self.name}: {name} holds a NaN or infinite number")
        try:
            parsed = self.arguments.model_validate(arguments)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from None
        values = dict(parsed)
        for name in self.image_params:
            key = values.get(name)
            if key is None:
                continue
            if key not in images:
                known = ", ".join(sorted(images)) or "none"
                raise ToolError(f"no image named {key!r}; images in this conversation: {known}")
            values[name] = images[key]
        return values


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a (nested) argument: a model may write them, and a box of NaNs
    must go back to it as a mistake, not crash the judgment."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


class Results:
    """The last `size` results of `memo` tools, by tool, pixels (content hashes) and arguments. Results
    are shared, never changed by their readers (evidence is dumped from them, scores read them). A
    detector registered later (`forget`) makes every result before it stale."""

    def __init__(self, size: int = 256):
        self.size = size
        self._results: OrderedDict[str, ToolResult] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, tool: Tool, arguments: Mapping[str, Any], hashes: Mapping[str, str]) -> str | None:
        """The key of a call, or None where an image it names has no hash (then it is not kept)."""
        pixels = {}
        for name in tool.image_params:
            if (image := arguments.get(name)) is not None:
                if image not in hashes:
                    return None
                pixels[name] = hashes[image]
        try:
            return json.dumps([tool.name, tool.version, {**arguments, **pixels}], sort_keys=True)
        except (TypeError, ValueError):  # arguments that are not plain JSON are not kept
            return None

    def get(self, key: str) -> ToolResult | None:
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        return None

    def put(self, key: str, result: ToolResult) -> None:
        if result.produced_images():  # a crop's pixels are not kept here: the judge keeps what it produced
            return
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.size:
                self._results.popitem(last=False)

    def forget(self) -> None:
        with self._lock:
            self._results.clear()


RESULTS = Results(int(os.environ.get("SCRUTINY_TOOL_RESULTS", "256")))
"""The process's kept results of `memo` tools (`SCRUTINY_TOOL_RESULTS` of them; 0 keeps none)."""


def keep_tool_results(size: int) -> None:
    """Keep this many results of `memo` tools, in this process and the processes it starts (0: none,
    as a benchmark that judges the same images more than once to time them wants)."""
    os.environ["SCRUTINY_TOOL_RESULTS"] = str(size)
    RESULTS.size = size
    RESULTS.forget()


REGISTRY: dict[str, Tool] = {}


def tool(
    fn: Callable[..., ToolResult] | None = None,
    *,
    name: str | None = None,
    version: str = "1",
    inline: bool = False,
    memo: bool = False,
):
    """Register a typed function as a tool. Usable as `@tool` or `@tool(name=..., version=..., inline=...,
    memo=...)`."""

    def register(fn: Callable[..., ToolResult]) -> Tool:
        built = _build_tool(fn, name or fn.__name__, version)
        built.inline, built.memo = inline, memo
        if built.name in REGISTRY:
            raise ValueError(f"a tool named {built.name!r} is already registered")
        REGISTRY[built.name] = built
        return built

    return register(fn) if fn is not None else register


def get_tool(name: str) -> Tool:
    if name not in REGISTRY:
        raise ToolError(f"no tool named {name!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def tool_schemas(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Function-calling schemas of the named tools (all registered tools by default)."""
    return [get_tool(n).schema() for n in (names or sorted(REGISTRY))]


def _build_tool(fn: Callable[..., ToolResult], name: str, version: str) -> Tool:
    summary, params_doc = _parse_docstring(inspect.getdoc(fn) or "")
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    image_params: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        hint = hints[param.name]
        default = ... if param.default is inspect.Parameter.empty else param.default
        description = params_doc.get(param.name)
        if Injected in getattr(hint, "__metadata__", ()):
            image_params.append(param.name)
            description = description or "Name of an image in the conversation (candidate_0, source, crop_1, ...)."
            hint = str if default is ... else str | None
        fields[param.name] = (hint, Field(default, description=description))
    arguments = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return Tool(name, fn, summary, arguments, tuple(image_params), version, params_doc)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {parameter: description})."""
    head, _, args = doc.partition("\nArgs:\n")
    params: dict[str, str] = {}
    current = None
    for line in args.splitlines():
        match = re.match(r"^\s{2,4}(\w+)(?: \(.*?\))?:\s*(.*)$", line)
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current and line.startswith(" " * 6):
            params[current] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return head.strip(), params
