"""What a model backend is: the async `Backend` protocol and the completion it returns.

The agents type their backend with this protocol; `scrutiny.backends.OpenAIBackend` (which
imports openai) is one implementation, a test's scripted stand-in is another.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field

from scrutiny.core.schema import Model


class BackendError(RuntimeError):
    """No endpoint could answer (all failed or are cooling down), or the request was refused."""


class ModelToolCall(Model):
    id: str
    name: str
    arguments: str
    """The raw JSON text the model wrote (parsed and validated by the tool, not here)."""


class TokenLogprob(Model):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)
    """The most likely tokens at this position with their log-probabilities."""


class Completion(Model):
    content: str | None = None
    tool_calls: list[ModelToolCall] = Field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    endpoint: str = ""


class Backend(Protocol):
    """An async chat-completions client for one model."""

    model: str

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict] | None = None,
        response_format: dict | None = None,
        top_logprobs: int | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> Completion: ...
