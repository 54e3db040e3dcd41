"""Text completions as rewards (TRL, verl): either the completion is a prompt that a generator renders and
the judge scores against the original request, or the completion describes an image from the data
(a caption, a description) and the judge scores that image against the completion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scrutiny.core.aio import block_on
from scrutiny.core.images import ImageError
from scrutiny.core.schema import Verdict
from scrutiny.trainers.advantages import fill_abstentions
from scrutiny.trainers.rewards import JudgeReward, scores_of


@dataclass
class TextCompletions:
    """What a text-completion trainer's samples are judged on; shared by the TRL and verl adapters.

    With `generator` (any `fn(prompt, seed) -> image`, a diffusers pipeline, or an object with
    `agenerate(prompts, seeds)`): each completion is a prompt; the generator renders it (seed
    `seed`, the same for every completion, so only the prompt differs) and the image is judged
    against the original request. Without: each completion is judged as the prompt of an image the
    sample carries (its `image`/`images` column or `extra_info["image"]`), e.g. a caption.
    """

    reward: JudgeReward = field(default_factory=lambda: JudgeReward())
    generator: Any = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.generator is not None:
            from scrutiny.generators import as_generator

            self.generator = as_generator(self.generator)

    async def averdicts(
        self, completions: Sequence[str], requests: Sequence[str | None], images: Sequence[Any]
    ) -> list[Verdict]:
        """`requests[i]`: what the user asked for (with a generator); `images[i]`: the sample's image (without)."""
        if self.generator is not None:
            if any(r is None for r in requests):
                raise ValueError("rendering completions needs the original request of every sample")
            rendered = await self.generator.agenerate(list(completions), [self.seed] * len(completions))
            return await self.reward.ascore(rendered, list(requests), duplicates=False)
        if all(i is None for i in images):
            raise ValueError(
                "the completions are text: give generator=... to render them as prompts, or give each sample "
                "an image to judge them against (an `image`/`images` column, or extra_info['image'])"
            )
        missing = ImageError("this sample has no image to judge its completion against")
        given = [missing if i is None else i for i in images]  # that sample abstains, the others are judged
        return await self.reward.ascore(given, list(completions), duplicates=False)


def _one_image(value: Any) -> Any:
    """A sample's image: a path or an image, or the first of a list of them (TRL's `images` column)."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _completion_text(completion: Any) -> str:
    """A completion as text: a string, or the text of a conversational completion's messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for message in completion:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(part.get("text", "") for part in content if part.get("type") == "text")
        return " ".join(parts)
    raise ValueError(f"cannot read a completion from {type(completion).__name__}")


def trl_reward(
    reward: JudgeReward | None = None, *, generator: Any = None, seed: int = 0, request_column: str | None = None
) -> Callable[..., Any]:
    """An async TRL `GRPOTrainer` reward function; `None` abstains (TRL ignores it in nanmean/nanstd).

    Two uses (see `TextCompletions`):
    - `trl_reward(generator=pipe)`: train a prompt writer. Each completion is a prompt; `pipe`
      renders it and the judge scores the image against the request: the dataset's
      `request_column` when given, else the prompt the model was given (its last user message).
    - `trl_reward()` on a dataset with an `image` or `images` column (a list per example: the first
      is used): each completion is judged as the prompt of that image (a captioner, a describer).

    The critique of each verdict goes to `log_extra` and the abstain rate to `log_metric` when TRL
    passes them.
    """
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    async def fn(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]:
        texts = [_completion_text(c) for c in completions]
        if request_column is not None:
            requests = list(kwargs[request_column])
        else:
            requests = [_prompt_text(p) for p in prompts]
        column = kwargs.get("images", kwargs.get("image"))
        images = [_one_image(x) for x in column] if column is not None else [None] * len(texts)
        verdicts = await source.averdicts(texts, requests, images)
        log_extra = kwargs.get("log_extra")
        if log_extra is not None:
            log_extra(f"{source.reward.name}_critique", [v.critique for v in verdicts])
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            log_metric(f"{source.reward.name}/abstain_rate", float(np.mean([v.score is None for v in verdicts])))
        return [v.score for v in verdicts]

    fn.__name__ = source.reward.name
    return fn


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):  # chat messages: the last user turn
        for message in reversed(prompt):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    raise ValueError(f"cannot read a prompt from {type(prompt).__name__}; pass a string or chat messages")


VERL_ABSTAIN_SCORE = 0.0
"""What an abstention becomes in verl by default (verl has no "no reward"; NaN would poison its
advantages). A constant is neutral where a whole group abstains (its advantages are 0); the batch
form first fills an abstention with the mean of its prompt's other samples."""


def verl_reward(
    reward: JudgeReward | None = None,
    *,
    generator: Any = None,
    seed: int = 0,
    abstain_score: float = VERL_ABSTAIN_SCORE,
) -> Callable[..., dict]:
    """A verl `compute_score` for `NaiveRewardManager` (one sample per call, by keyword).

    What is judged (see `TextCompletions`): with `generator`, `solution_str` is a prompt, rendered
    and judged against the request (`ground_truth`, a dict's "prompt", or `extra_info["prompt"]`);
    without, the image comes from `extra_info["image"]` (a path, an image, or a list of them: the
    first) and is judged against `solution_str`; an image generator's output passed as
    `solution_image` is judged against the request. Returns {"score", "abstained", "checked"}:
    numbers only, as verl logs every key; an abstention scores `abstain_score`, never NaN.
    """
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    def compute_score(
        data_source=None, solution_str=None, ground_truth=None, extra_info=None, *, solution_image=None, **kw
    ) -> dict:
        (verdict,) = block_on(_verl_verdicts(source, [solution_str], [ground_truth], [extra_info], [solution_image]))
        return _verl_dict(verdict, verdict.score if verdict.score is not None else abstain_score)

    return compute_score


def verl_batch_reward(
    reward: JudgeReward | None = None,
    *,
    generator: Any = None,
    seed: int = 0,
    abstain_score: float = VERL_ABSTAIN_SCORE,
) -> Callable[..., list[dict]]:
    """verl's batched form for `BatchRewardManager`: lists in by keyword, one dict per sample out.
    An abstention takes the mean score of its prompt's other samples, or `abstain_score` when the
    whole prompt abstained."""
    source = TextCompletions(reward or JudgeReward(), generator, seed)

    def compute_score(
        data_sources=None, solution_strs=None, ground_truths=None, extra_infos=None, *, solution_images=None, **kw
    ) -> list[dict]:
        n = _batch_length(
            solution_strs=solution_strs,
            solution_images=solution_images,
            ground_truths=ground_truths,
            extra_infos=extra_infos,
            data_sources=data_sources,
        )
        infos = list(extra_infos) if extra_infos is not None else [None] * n
        truths = list(ground_truths) if ground_truths is not None else [None] * n
        images = list(solution_images) if solution_images is not None else [None] * n
        texts = list(solution_strs) if solution_strs is not None else [None] * n
        verdicts = block_on(_verl_verdicts(source, texts, truths, infos, images))
        raw = scores_of(verdicts)
        groups = [_verl_request(t, e, required=False) or k for k, (t, e) in enumerate(zip(truths, infos))]
        filled, _ = fill_abstentions(raw, groups)
        filled = np.where(np.isnan(filled), abstain_score, filled)
        return [_verl_dict(v, float(f)) for v, f in zip(verdicts, filled)]

    return compute_score


def _batch_length(**columns: Any) -> int:
    """The one length every given column of a verl batch has, or a one-line error naming them."""
    lengths = {name: len(value) for name, value in columns.items() if value is not None}
    if not lengths or "solution_strs" not in lengths and "solution_images" not in lengths:
        raise ValueError("verl batch: give solution_strs or solution_images")
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} {name}" for name, n in lengths.items())
        raise ValueError(f"verl batch: the columns differ in length ({shown}); give one entry per sample in each")
    return next(iter(lengths.values()))


async def _verl_verdicts(source: TextCompletions, texts, truths, infos, images) -> list[Verdict]:
    if source.generator is None and all(i is not None for i in images):  # an image generator's samples
        return await source.reward.ascore(list(images), [_verl_request(t, e) for t, e in zip(truths, infos)])
    requests = [_verl_request(t, e, required=source.generator is not None) for t, e in zip(truths, infos)]
    own = [_one_image((e or {}).get("image")) if i is None else i for i, e in zip(images, infos)]
    return await source.averdicts([t or "" for t in texts], requests, own)


def _verl_dict(verdict: Verdict, score: float) -> dict:
    checked = verdict.coverage[0].share if verdict.coverage else 0.0
    return {"score": float(score), "abstained": float(verdict.score is None), "checked": float(checked)}


def _verl_request(ground_truth: Any, extra_info: dict | None, required: bool = True) -> str | None:
    if isinstance(ground_truth, dict) and ground_truth.get("prompt"):
        return ground_truth["prompt"]
    if isinstance(ground_truth, str) and ground_truth:
        return ground_truth
    if extra_info and extra_info.get("prompt"):
        return extra_info["prompt"]
    if not required:
        return None
    raise ValueError(
        "verl ground_truth must be the prompt (or a dict with 'prompt'), or extra_info must carry 'prompt'"
    )
