"""The run pages: every run in a list, one run (a batch, bench, refinement or training run) on a page,
and two runs side by side.

A run's judgments are the traces recorded with its id (`Task.metadata["run"]`), read up to
`RUN_TRACES` of them. A judging run shows the histogram of its scores, how often each kind of
criterion was met, its abstentions by reason, and its best and worst items with thumbnails linking
to their traces. A training run shows its reward and per-criterion curves per step (the run's
recorded history), its image statistics and hack alarms, and the judged samples kept per step.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from scrutiny.agents.state import MET
from scrutiny.batch import _reason_kind
from scrutiny.core.schema import Verdict
from scrutiny.memory import Store, StoreError
from scrutiny.viewer.markup import BadRequest, esc, fmt, guarded, page

RUN_TRACES = 5000
"""At most this many of a run's judgments are read for its page."""
BINS = 10


@dataclass
class Judged:
    """What a run page shows of one judgment."""

    trace_id: str
    step: int | None
    prompt: str
    score: float | None
    image: str | None
    """The first candidate's content hash."""


@dataclass
class RunSummary:
    judged: list[Judged] = field(default_factory=list)
    met: dict[str, list[int]] = field(default_factory=dict)
    """Per kind of criterion (its dimension): [met, checked, unchecked]."""
    abstained: Counter = field(default_factory=Counter)


def summarise(store: Store, run_id: str) -> RunSummary:
    """A run's judgments, read from its traces and their verdicts."""
    rows = list(store.iter_traces(limit=RUN_TRACES, run_id=run_id))
    verdicts = {}
    for start in range(0, len(rows), 500):
        verdicts |= store.verdicts_by_id([r.verdict_id for r in rows[start : start + 500] if r.verdict_id])
    summary = RunSummary()
    for row in rows:
        verdict = verdicts.get(row.verdict_id)
        score = verdict.scores[0] if verdict and verdict.scores else None
        summary.judged.append(Judged(row.id, row.step, row.prompt, score, _first_image(row.task_json)))
        if verdict is not None:
            _count(summary, verdict)
    return summary


def _first_image(task_json: str) -> str | None:
    try:
        digest = str(json.loads(task_json)["candidates"][0])
    except (ValueError, KeyError, IndexError):
        return None
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def _count(summary: RunSummary, verdict: Verdict) -> None:
    """One verdict's criteria (met, checked or not, by kind) and its abstention, if it abstained."""
    criteria = {c.id: c for c in verdict.rubric}
    for s in verdict.criterion_scores:
        c = criteria.get(s.criterion)
        row = summary.met.setdefault(c.dimension if c else "custom", [0, 0, 0])
        if s.score is None:
            row[2] += 1
        else:
            row[0] += s.score >= (c.met if c is not None and c.met is not None else MET)  # as the trace page colours it
            row[1] += 1
    if all(s is None for s in verdict.scores):
        summary.abstained[_why(verdict)] += 1


def _why(verdict: Verdict) -> str:
    """Why a verdict abstained: its error, else its coverage's reason."""
    reasons = [c.abstain_reason for c in verdict.coverage if c.abstain_reason]
    reason = _reason_kind(verdict.error or (reasons[0] if reasons else "no reason given"))
    return reason if len(reason) < 80 else reason.rsplit(" ", 1)[0] + " …"  # cut at a word


# drawing


def histogram(scores: list[float]) -> str:
    """Bars of the scores in ten bins over 0..1, as inline SVG (no script, no external file)."""
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, int(s * BINS))] += 1
    top = max(counts) or 1
    bars = "".join(
        f'<rect x="{k * 30 + 2}" y="{100 - 96 * c / top:.1f}" width="26" height="{96 * c / top:.1f}" fill="#1c7ed6">'
        f"<title>{k / BINS:.1f}–{(k + 1) / BINS:.1f}: {c}</title></rect>"
        for k, c in enumerate(counts)
    )
    axis = "".join(f'<text x="{k * 30}" y="114" font-size="9">{k / BINS:.1f}</text>' for k in range(0, BINS + 1, 2))
    return f'<svg class=chart data-chart=histogram width="310" height="118" viewBox="0 0 310 118">{bars}{axis}</svg>'


def curve(name: str, points: list[tuple[float, float]]) -> str:
    """A line of a metric over the steps, as inline SVG, labelled with its range."""
    finite = [(x, y) for x, y in points if math.isfinite(y)]
    if not finite:
        return ""
    xs, ys = [x for x, _ in finite], [y for _, y in finite]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
    line = " ".join(f"{4 + 292 * (x - x0) / span_x:.1f},{94 - 88 * (y - y0) / span_y:.1f}" for x, y in finite)
    return (
        f'<figure><svg class=chart data-chart="{esc(name)}" width=300 height=100 viewBox="0 0 300 100">'
        f'<polyline points="{line}" fill="none" stroke="#1c7ed6" stroke-width="2"/></svg>'
        f"<figcaption>{esc(name)}: {y0:.3g} to {y1:.3g} over steps {x0:g}–{x1:g}</figcaption></figure>"
    )


def _thumb(judged: Judged) -> str:
    image = (
        f'<img class=thumb src="/artifact/{quote(judged.image)}.png" alt="" loading=lazy height=64>'
        if judged.image
        else ""
    )
    return f'<a href="/trace/{quote(judged.trace_id)}">{image}{fmt(judged.score)}</a>'


# the parts of a run page


def _header(run) -> str:
    counts = json.loads(run.counts_json or "{}")
    said = ", ".join(f"{k} {v}" for k, v in counts.items())
    return (
        f"<h1>Run {esc(run.id)}</h1><p>{esc(run.kind)} · {esc(run.status or 'recorded')} · "
        f"{esc(run.created_at.isoformat(timespec='seconds'))}{' · ' + esc(said) if said else ''}</p>"
        + (f"<pre>{esc(run.command)}</pre>" if run.command else "")
        + f'<p><a href="/?run={quote(run.id)}">its traces</a></p>'
    )


def _judging(summary: RunSummary) -> str:
    scores = [j.score for j in summary.judged if j.score is not None]
    if not summary.judged:
        return "<p class=none>no judgments of this run are in the store</p>"
    mean = f", mean {sum(scores) / len(scores):.3f}" if scores else ""
    parts = [f"<h2>Scores</h2><p>{len(summary.judged)} judgments, {len(scores)} scored{mean}</p>", histogram(scores)]
    parts.append(_met_table(summary.met))
    if summary.abstained:
        rows = "".join(f"<tr><td>{esc(r)}</td><td>{n}</td></tr>" for r, n in summary.abstained.most_common())
        parts.append(
            f"<h2>Abstentions</h2><table id=abstentions><tr><th>reason</th><th>judgments</th></tr>{rows}</table>"
        )
    ranked = sorted((j for j in summary.judged if j.score is not None), key=lambda j: -j.score)
    for title, chosen in (("Best", ranked[:6]), ("Worst", ranked[::-1][:6])):
        parts.append(f"<h2>{title}</h2><p class={title.lower()}>" + " ".join(_thumb(j) for j in chosen) + "</p>")
    return "".join(parts)


def _met_table(met: dict[str, list[int]]) -> str:
    rows = "".join(
        f"<tr><td>{esc(kind)}</td><td class=score>{fmt(m / n if n else None)}</td><td>{m} of {n}</td><td>{u}</td></tr>"
        for kind, (m, n, u) in sorted(met.items(), key=lambda kv: (kv[1][0] / kv[1][1]) if kv[1][1] else 2)
    )
    return (
        "<h2>Criteria met, by kind</h2><table id=criteria><tr><th>kind</th><th>met rate</th>"
        f"<th>met of checked</th><th>not checked</th></tr>{rows}</table>"
    )


def _training(run, summary: RunSummary) -> str:
    history = [h for h in json.loads(run.items_json or "[]") if isinstance(h, dict)]
    metrics = json.loads(run.metrics_json or "{}")
    if not history:
        return "<p class=none>no steps recorded yet</p>"
    steps = [float(h.get("step", k + 1)) for k, h in enumerate(history)]
    names = [k for k in history[-1] if k != "step" and isinstance(history[-1][k], (int, float))]
    names.sort(key=lambda k: (k != "reward_mean", not k.startswith("criterion"), k))
    charts = "".join(curve(n, [(x, float(h.get(n, math.nan))) for x, h in zip(steps, history)]) for n in names)
    alarms = metrics.get("alarms") or []
    said = "".join(f"<li>{esc(a if isinstance(a, str) else json.dumps(a))}</li>" for a in alarms)
    parts = [f"<h2>Per step</h2><div id=curves>{charts}</div>"]
    parts.append(f"<h2>Hack alarms</h2><ul id=alarms>{said}</ul>" if said else "<p id=alarms>no hack alarms</p>")
    return "".join(parts) + _samples(summary)


def _samples(summary: RunSummary) -> str:
    """The judged samples kept whole, per step (the last eight steps that have any)."""
    by_step: dict[int, list[Judged]] = {}
    for j in summary.judged:
        if j.step is not None:
            by_step.setdefault(j.step, []).append(j)
    if not by_step:
        return "<p class=none>no whole judgments of this run were kept (JudgeConfig.keep)</p>"
    rows = "".join(
        f"<tr><td>{step}</td><td>{' '.join(_thumb(j) for j in by_step[step][:8])}</td></tr>"
        for step in sorted(by_step)[-8:]
    )
    return f"<h2>Samples</h2><table id=samples><tr><th>step</th><th>judged samples</th></tr>{rows}</table>"


def _run_body(store: Store, run) -> str:
    summary = summarise(store, run.id)
    body = _header(run)
    if run.kind == "train":
        return body + guarded("the training curves", _training, run, summary)
    return body + guarded("the judgments", _judging, summary)


# pages


def _run_of(store: Store, run_id: str):
    if not re.fullmatch(r"[0-9A-Za-z_.:-]{1,80}", run_id):
        raise BadRequest("a run id is letters, digits and - _ . : only")
    try:
        return store.run(run_id)
    except StoreError as e:
        raise StoreError(f"no run {run_id!r}: {e}") from None


def runs_page(store: Store) -> str:
    rows = "".join(
        f'<tr><td><a href="/run/{quote(r.id)}">{esc(r.id)}</a></td><td>{esc(r.kind)}</td><td>{esc(r.status or "")}</td>'
        f"<td>{esc(r.created_at.isoformat(timespec='seconds'))}</td><td>{esc((r.command or '')[:120])}</td>"
        f'<td><input type=checkbox name=r value="{esc(r.id)}"></td></tr>'
        for r in store.runs(limit=200)
    )
    return page(
        "runs",
        '<h1>Runs</h1><form method=get action="/runs/compare"><p><button id=compare-runs>compare the two ticked</button></p>'
        f"<table id=runs><tr><th>run</th><th>kind</th><th>status</th><th>started</th><th>command</th><th></th></tr>{rows}"
        "</table></form>",
    )


def run_page(store: Store, run_id: str) -> str:
    run = _run_of(store, run_id)
    return page(f"run {run.id}", _run_body(store, run))


def runs_compare_page(store: Store, query: dict[str, list[str]]) -> str:
    chosen = query.get("r", [])
    if len(chosen) != 2:
        raise BadRequest("tick two runs to compare (r=RUN&r=RUN)")
    runs = [_run_of(store, r) for r in chosen]
    columns = "".join(f"<div>{_run_body(store, run)}</div>" for run in runs)
    return page("two runs", f"<div class=cols id=two-runs>{columns}</div>")
