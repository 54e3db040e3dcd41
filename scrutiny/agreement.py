"""`scrutiny bench DATA.jsonl`: agreement of the judge with human preferences.

One JSON object per line; image paths are relative to the file:

    {"prompt": "...", "images": ["a.png", "b.png"], "preferred": 0}          # 0, 1, ... or null for a tie
    {"prompt": "...", "images": ["a.png", "b.png", "c.png"], "ranking": [2, 0, 1]}
    {"prompt": "Add a hat", "source": "s.png", "images": ["e1.png", "e2.png"], "preferred": 1}

Metrics: pairwise accuracy over the pairs a human decided (a judge tie counts as wrong), how
often the judge also ties where the human tied, K-way group accuracy (the judge's best is the
human's best), Cohen's kappa between judge and human labels (first / second / tie) on two-image
items, and a bootstrap 95% confidence interval for the pairwise accuracy.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from scrutiny.api import Judge
from scrutiny.core.aio import bounded_map
from scrutiny.core.schema import Verdict


class Preference(BaseModel):
    prompt: str
    images: list[str]
    source: str | None = None
    preferred: int | None = None
    ranking: list[int] | None = None
    id: str = ""

    @model_validator(mode="after")
    def _check(self) -> Preference:
        if len(self.images) < 2:
            raise ValueError("give at least two images")
        if self.preferred is not None and not 0 <= self.preferred < len(self.images):
            raise ValueError(f"preferred must index images (0..{len(self.images) - 1})")
        if self.ranking is not None and sorted(self.ranking) != list(range(len(self.images))):
            raise ValueError("ranking must list every image index once, best first")
        return self

    @property
    def human_best(self) -> int | None:
        return self.ranking[0] if self.ranking else self.preferred

    def pairs(self) -> list[tuple[int, int, float]]:
        """(i, j, label): label 1 when a human prefers i over j, 0.5 for a tie."""
        if self.ranking:
            place = {image: k for k, image in enumerate(self.ranking)}
            return [
                (i, j, 1.0 if place[i] < place[j] else 0.0)
                for i in range(len(self.images))
                for j in range(i + 1, len(self.images))
            ]
        if self.preferred is None:
            return [(0, 1, 0.5)] if len(self.images) == 2 else []
        return [(self.preferred, j, 1.0) for j in range(len(self.images)) if j != self.preferred]


def load_preferences(path: str | Path) -> list[Preference]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    items = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = Preference.model_validate_json(line)
        except ValidationError as e:
            err = e.errors()[0]
            raise ValueError(f"{path}:{number}: {'.'.join(map(str, err['loc'])) or 'line'}: {err['msg']}") from None
        for name in item.images + ([item.source] if item.source else []):
            if not (path.parent / name).is_file():
                raise ValueError(f"{path}:{number}: image {name!r} not found next to the file")
        item.images = [str(path.parent / n) for n in item.images]
        item.source = str(path.parent / item.source) if item.source else None
        item.id = item.id or f"line{number}"
        items.append(item)
    if not items:
        raise ValueError(f"{path}: no preference items")
    return items


async def ajudge_item(judge: Judge, item: Preference, metadata: dict | None = None) -> Verdict:
    if item.source:
        return await judge.aedit(item.source, item.images, item.prompt, metadata=metadata)
    if len(item.images) == 2:
        return await judge.acompare(item.images[0], item.images[1], item.prompt, metadata=metadata)
    return await judge.arank(item.images, item.prompt, metadata=metadata)


@dataclass
class BenchResult:
    metrics: dict[str, Any]
    items: list[dict[str, Any]]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def judge_pair_label(scores: list[float | None], i: int, j: int) -> float | None:
    """1 if the judge prefers i over j, 0 if j, 0.5 for a tie, None if either abstained."""
    if scores[i] is None or scores[j] is None:
        return None
    return 0.5 if abs(scores[i] - scores[j]) <= 1e-9 else float(scores[i] > scores[j])


def metrics(items: list[Preference], scores: list[list[float | None]], seed: int = 0) -> dict[str, Any]:
    decided, ties = [], []
    group_hits = []
    human_labels, judge_labels = [], []
    for item, s in zip(items, scores):
        for i, j, label in item.pairs():
            judged = judge_pair_label(s, i, j)
            (ties if label == 0.5 else decided).append(float(judged == label))
        if len(item.images) > 2 and item.human_best is not None:
            best = max(range(len(s)), key=lambda k: -1 if s[k] is None else s[k])
            group_hits.append(float(s[best] is not None and best == item.human_best))
        if len(item.images) == 2:
            human_labels.append("tie" if item.preferred is None else str(item.preferred))
            judged = judge_pair_label(s, 0, 1)
            judge_labels.append("abstain" if judged is None else "tie" if judged == 0.5 else str(int(1 - judged)))
    accuracy = sum(decided) / len(decided) if decided else None
    return {
        "items": len(items),
        "pairs": len(decided),
        "pairwise_accuracy": accuracy,
        "pairwise_accuracy_ci95": bootstrap(decided, seed) if decided else None,
        "human_ties": len(ties),
        "tie_agreement": sum(ties) / len(ties) if ties else None,
        "group_items": len(group_hits),
        "group_accuracy": sum(group_hits) / len(group_hits) if group_hits else None,
        "cohen_kappa": cohen_kappa(human_labels, judge_labels) if human_labels else None,
    }


def bootstrap(outcomes: list[float], seed: int = 0, resamples: int = 1000) -> list[float]:
    rng = random.Random(seed)
    n = len(outcomes)
    means = sorted(sum(rng.choices(outcomes, k=n)) / n for _ in range(resamples))
    return [round(means[int(0.025 * resamples)], 4), round(means[int(0.975 * resamples) - 1], 4)]


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Agreement beyond chance between two labelings of the same items."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    labels = set(a) | set(b)
    expected = sum((a.count(label) / n) * (b.count(label) / n) for label in labels)
    return 1.0 if expected == 1 else round((observed - expected) / (1 - expected), 4)


async def judge_items(
    judge: Judge, items: list[Preference], *, progress: bool = False, label: str = "judging", run_id: str | None = None
) -> list[Verdict]:
    """One verdict per item, with bounded concurrency and an optional progress bar."""
    bar = None
    if progress:
        from scrutiny.core.progress import ProgressBar

        bar = ProgressBar(label, len(items))
    try:
        steps = {id(item): k for k, item in enumerate(items)}

        def one(item: Preference):
            metadata = {"run": run_id, "step": steps[id(item)], "item": item.id} if run_id else None
            return ajudge_item(judge, item, metadata)

        return await bounded_map(one, items, judge.config.concurrency, bar.advance if bar else None)
    finally:
        if bar:
            bar.close()


async def abench(judge: Judge, items: list[Preference], *, progress: bool = False) -> BenchResult:
    """Judge every item, compute the metrics, and keep the run (and each item's result) in the store."""
    run_id = f"bench-{uuid.uuid4().hex[:12]}"
    judge.store.start_run("bench", f"bench ({len(items)} items)", {"items": len(items)}, judge.library_version, run_id)
    try:
        verdicts = await judge_items(judge, items, progress=progress, label="bench", run_id=run_id)
    except BaseException:
        judge.store.finish_run(run_id, "failed")
        raise
    result = BenchResult(
        metrics(items, [v.scores for v in verdicts]) | {"families": model_habits(judge.store, verdicts)},
        [
            {
                "id": item.id,
                "prompt": item.prompt,
                "human_best": item.human_best,
                "scores": v.scores,
                "judge_best": v.ranking[0] if v.ranking else None,
                "trace_id": v.trace_id,
            }
            for item, v in zip(items, verdicts)
        ],
        run_id,
    )
    judge.store.record_run(result.run_id, "bench", result.metrics, result.items, judge.library_version)
    return result


def model_habits(store, verdicts: list[Verdict]) -> dict[str, dict[str, Any]]:
    """Per model family, from the run's traces: model requests, answers that did not parse (each repair
    counts), pairwise judgments and the share whose two orders disagreed (position bias: the two
    orders are judged apart, and a disagreement is a tie). Empty for the offline policy."""
    out: dict[str, dict[str, Any]] = {}
    for verdict in verdicts:
        if not verdict.trace_id or not store.has_trace(verdict.trace_id):
            continue
        events = store.trace(verdict.trace_id).events
        family = next((e.data.get("family") for e in events if e.kind == "model_request"), None)
        if family is None:
            continue
        row = out.setdefault(family, {"requests": 0, "parse_failures": 0, "pairwise": 0, "orders_disagree": 0})
        row["requests"] += sum(e.kind == "model_request" for e in events)
        row["parse_failures"] += sum(e.kind == "parse_failure" for e in events)
        orders = [e for e in events if e.kind == "node_exit" and e.node == "pairwise_orders"]
        row["pairwise"] += len(orders)
        row["orders_disagree"] += sum(not e.data.get("agreed") for e in orders)
    for row in out.values():
        row["order_disagreement"] = row["orders_disagree"] / row["pairwise"] if row["pairwise"] else None
    return out


async def aexamples(judge: Judge, items: list[Preference], *, progress: bool = False) -> list:
    """Judge every image of the items once, with base weights (no skills), as evolution examples.

    Offline, a library changes only how criterion scores are weighted, so each library can then be
    evaluated exactly without judging again. Ties are left out: they teach no preference.
    """
    from dataclasses import replace

    from scrutiny.agents.evolve import Example

    base = Judge(
        policy=judge.policy, store=judge.store, config=replace(judge.config, skills=False), library=judge.library
    )
    verdicts = await judge_items(base, items, progress=progress)
    examples = []
    for item, verdict in zip(items, verdicts):
        per_image = [
            {s.criterion: s.score for s in verdict.criterion_scores if s.candidate == k}
            for k in range(len(item.images))
        ]
        measured = [
            {s.criterion: s.measures for s in verdict.criterion_scores if s.candidate == k and s.measures}
            for k in range(len(item.images))
        ]
        kind = "edit" if item.source else "score"
        for i, j, label in item.pairs():
            if label != 0.5:
                examples.append(
                    Example(
                        item.prompt,
                        kind,
                        verdict.rubric,
                        (per_image[i], per_image[j]),
                        label,
                        (measured[i], measured[j]),
                    )
                )
    return examples
