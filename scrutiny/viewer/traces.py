"""The trace pages: the list (filtered, paged), one trace with its overlays and steps, two compared."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from scrutiny.agents.state import MET
from scrutiny.core.overlays import COLORS, Overlay, overlays, svg_boxes
from scrutiny.core.schema import Trace, Verdict
from scrutiny.memory import Store, StoreError
from scrutiny.memory.traces import MAX_PROMPT_FILTER
from scrutiny.traces import conversation, parse_when
from scrutiny.viewer.markup import BadRequest, esc, fmt, guarded, page

PAGE_SIZE = 25


def figure(store: Store, name: str, digest: str | None, boxes: list[Overlay]) -> str:
    if digest is None:
        return ""
    size = store.artifact_size(digest)
    if size is None:
        return f"<figure><figcaption>{esc(name)}: image not in this store</figcaption></figure>"
    width, height = size
    rects = svg_boxes(boxes, 1.0, max(2, width / 250), max(11, width / 45))
    return (
        f'<figure><div class="frame"><img src="/artifact/{quote(digest)}.png" alt="{esc(name)}" width="{width}" height="{height}">'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{rects}</svg></div>'
        f"<figcaption>{esc(name)} · {width}×{height} · {len(boxes)} boxes</figcaption></figure>"
    )


def page_number(query: dict[str, list[str]]) -> int:
    raw = query.get("page", ["1"])[0] or "1"
    if not re.fullmatch(r"\d{1,9}", raw) or int(raw) < 1:
        raise BadRequest(f"page must be a whole number from 1, got {raw[:40]!r}")
    return int(raw)


LIST_FILTERS = {
    "prompt": "prompt contains",
    "policy": "policy",
    "model": "model",
    "run": "run id",
    "since": "since (2h, 2026-11-30)",
    "min": "min score",
    "max": "max score",
}


ORDERS = {"newest": "newest first", "oldest": "oldest first", "best": "best score first", "worst": "worst score first"}


def _filters(store: Store, query: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, Any]]:
    """The list page's query as given (to keep in links) and as `Store.traces` filters."""
    given = {k: query.get(k, [""])[0].strip() for k in (*LIST_FILTERS, "abstained")}
    given = {k: v for k, v in given.items() if v}
    for key, value in given.items():
        if len(value) > MAX_PROMPT_FILTER:
            raise BadRequest(f"the {key} filter is at most {MAX_PROMPT_FILTER} characters, got {len(value):,}")

    def score(key: str) -> float | None:
        if key not in given:
            return None
        try:
            value = float(given[key])
        except ValueError:
            raise BadRequest(f"{LIST_FILTERS[key]} must be a number, got {given[key][:20]!r}") from None
        if not 0.0 <= value <= 1.0:
            raise BadRequest(f"{LIST_FILTERS[key]} must be between 0 and 1, got {value}")
        return value

    try:
        since = parse_when(given.get("since"))
    except ValueError as e:
        raise BadRequest(str(e)) from None
    abstained = {"yes": True, "no": False}.get(given.get("abstained", ""))
    run = None
    if "run" in given:
        try:
            run = store.run(given["run"]).id
        except StoreError as e:
            raise BadRequest(str(e)) from None
    filters = {
        "prompt": given.get("prompt"),
        "policy": given.get("policy"),
        "model": given.get("model"),
        "run_id": run,
        "since": since,
        "min_score": score("min"),
        "max_score": score("max"),
        "abstained": abstained,
    }
    return given, filters


def _thumbnail(row) -> str:
    """The first candidate of a trace, small (the artifact route serves it from the store)."""
    try:
        digest = json.loads(row.task_json)["candidates"][0]
    except (ValueError, KeyError, IndexError):
        return ""
    if not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
        return ""
    return f'<img class=thumb src="/artifact/{quote(digest)}.png" alt="" loading=lazy height=40>'


def _pager(number: int, pages: int, keep: dict[str, str]) -> str:
    """Numbered pages: the first, the last, and two either side of this one."""
    shown = sorted({1, pages, *range(max(1, number - 2), min(pages, number + 2) + 1)})
    links, last = [], 0
    for k in shown:
        if k - last > 1:
            links.append("<span class=none>…</span>")
        if k == number:
            links.append(f"<b>{k}</b>")
        else:
            links.append(f'<a href="/?{esc(urlencode({**keep, "page": k}, doseq=True))}">{k}</a>')
        last = k
    prev = f'<a rel=prev href="/?{esc(urlencode({**keep, "page": number - 1}))}">← newer</a>' if number > 1 else ""
    following = (
        f'<a rel=next href="/?{esc(urlencode({**keep, "page": number + 1}))}">older →</a>' if number < pages else ""
    )
    return f"<p class=pager>{prev} {' '.join(links)} {following}</p>"


def _filter_form(given: dict[str, str], order: str) -> str:
    """The list page's filters, as given, and its sort order."""
    inputs = "".join(
        f'<input name={name} placeholder="{esc(label)}" value="{esc(given.get(name, ""))}" size=14>'
        for name, label in LIST_FILTERS.items()
    )
    abstained = "".join(
        f"<option value={v}{' selected' if given.get('abstained', '') == v else ''}>{label}</option>"
        for v, label in (("", "all verdicts"), ("no", "decided only"), ("yes", "abstentions only"))
    )
    sorts = "".join(
        f"<option value={k}{' selected' if k == order else ''}>{label}</option>" for k, label in ORDERS.items()
    )
    return (
        f'<h1>Traces</h1><form class=filters method=get action="/">{inputs}'
        f"<select name=abstained>{abstained}</select><select name=sort>{sorts}</select><button>filter</button></form>"
    )


def list_page(store: Store, query: dict[str, list[str]]) -> str:
    number = page_number(query)
    order = query.get("sort", ["newest"])[0] or "newest"
    if order not in ORDERS:
        raise BadRequest(f"sort must be one of {', '.join(ORDERS)}, got {order[:20]!r}")
    given, filters = _filters(store, query)
    pins = query.get("pin", [])
    if any(not re.fullmatch(r"[0-9a-f]{32}", p) for p in pins) or len(pins) > 2:
        raise BadRequest("pin takes up to two trace ids (32 hex digits)")
    total = store.count_traces(**filters)
    pages = max(1, -(-total // PAGE_SIZE))
    keep = {**given, **({"sort": order} if order != "newest" else {})}
    link = {**keep, **({"pin": pins} if pins else {})}  # pinned traces follow every link, for comparing across pages
    body = [_filter_form(given, order)]
    if number > pages:
        body.append(
            f"<p class=err>there is no page {number}: {total} trace{'s' if total != 1 else ''} make {pages} "
            f'page{"s" if pages != 1 else ""}; <a href="/?{esc(urlencode({**keep, "page": pages}))}">the last page</a></p>'
        )
        return page("traces", "".join(body))
    rows = store.traces(limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, order=order, **filters)
    verdicts = store.verdicts_by_id([r.verdict_id for r in rows if r.verdict_id])
    body.append(
        f'<form id=compare-form method=get action="/compare"><p>{total} trace{"s" if total != 1 else ""} · '
        f"page {number} of {pages} <button id=compare>compare the two ticked</button> "
        "<span class=none>(tick two here, or pin one and tick one on another page)</span></p>"
        + "".join(f'<input type=hidden name=t value="{esc(p)}">' for p in pins)
        + "<table id=traces><tr><th></th><th></th><th>trace</th><th>when</th><th>kind</th><th>policy</th><th>scores</th><th>prompt</th></tr>"
    )
    for r in rows:
        v = verdicts.get(r.verdict_id)
        scores = " ".join(fmt(s) for s in v.scores) if v else '<span class="none">no verdict</span>'
        if r.id in pins:
            others = [p for p in pins if p != r.id]
            pin = f'<a class=pinned href="/?{esc(urlencode({**keep, "page": number, "pin": others}, doseq=True))}">pinned ✕</a>'
            tick = ""
        else:
            pin = f'<a class=pin href="/?{esc(urlencode({**keep, "page": number, "pin": [*pins, r.id]}, doseq=True))}">pin</a>'
            tick = f'<input type=checkbox name=t value="{esc(r.id)}">'
        body.append(
            f"<tr><td>{tick} {pin if len(pins) < 2 or r.id in pins else ''}</td><td>{_thumbnail(r)}</td>"
            f'<td><a class=trace href="/trace/{quote(r.id)}">{esc(r.id[:12])}</a></td>'
            f"<td>{r.created_at:%Y-%m-%d %H:%M:%S}</td><td>{esc(r.kind)}</td><td>{esc(r.policy)}{'/' + esc(r.model) if r.model else ''}</td>"
            f"<td class=score>{scores}</td><td>{esc(r.prompt)}</td></tr>"
        )
    body.append("</table></form>" + _pager(number, pages, link))
    return page("traces", "".join(body))


def trace_section(store: Store, trace: Trace, verdict: Verdict | None) -> str:
    """One trace: its header, the images with the tools' boxes, the criteria, the coverage, the
    critique and the steps; each part drawn on its own, so bad data in one leaves the others."""
    task = trace.task
    parts = [
        f"<h2>{esc(task.kind)}: {esc(task.prompt)}</h2>"
        f"<p>trace <code>{esc(trace.id)}</code> · {trace.created_at:%Y-%m-%d %H:%M:%S} · policy {esc(trace.policy)}"
        f"{' · model ' + esc(trace.model) if trace.model else ''}"
        f"{' · library ' + esc(trace.library_version) if trace.library_version else ''}</p>"
    ]
    if verdict is None:
        return "".join(parts) + "<p class=err>no verdict: the judgment did not finish</p>"
    scores = ", ".join(f"candidate {i}: {fmt(s)}" for i, s in enumerate(verdict.scores))
    preferred = "" if verdict.preferred is None else f" · preferred: candidate {verdict.preferred}"
    parts.append(f"<p class=summary>{scores}{preferred}{' · cached' if verdict.cached else ''}</p>")
    parts.append(guarded("the images", _images, store, trace, verdict))
    parts.append(guarded("the criteria", _criteria, verdict))
    parts.append(guarded("the coverage", coverage_section, verdict))
    parts.append(f"<h3>Critique</h3><pre class=critique>{esc(verdict.critique)}</pre>")
    return "".join(parts) + _steps(trace)


def _steps(trace: Trace) -> str:
    """Every tool call and model message in order, each drawn on its own."""
    turns_by_event: dict[int, list] = {}
    for turn in _conversation(trace):
        turns_by_event.setdefault(turn.seq, []).append(turn)
    items = [guarded(f"step {e.seq} ({e.kind})", _step, e, turns_by_event) for e in trace.events]
    if not any(e.kind.startswith("model_") for e in trace.events):
        items.append('<li class="none">no model messages (offline policy)</li>')
    return "<h3>Steps</h3><ol class=steps>" + "".join(items) + "</ol>"


def _images(store: Store, trace: Trace, verdict: Verdict) -> str:
    """The images with what the tools found on them."""
    task = trace.task
    boxes = overlays(trace, verdict)
    legend = (
        "<div class=legend>" + "".join(f'<span style="color:{c}">■ {k}</span>' for k, c in COLORS.items()) + "</div>"
    )
    names = [(f"candidate_{i}", h) for i, h in enumerate(task.candidates)] + (
        [("source", task.source)] if task.source else []
    )
    return legend + "<div class=images>" + "".join(figure(store, n, h, boxes.get(n, [])) for n, h in names) + "</div>"


def _criteria(verdict: Verdict) -> str:
    rows = [
        "<h3>Criteria</h3><table class=criteria><tr><th>criterion</th>"
        + "".join(f"<th>candidate {i}</th>" for i in range(len(verdict.task.candidates)))
        + "</tr>"
    ]
    for c in verdict.rubric:
        cells, met = [], MET if c.met is None else c.met
        for i in range(len(verdict.task.candidates)):
            s = next((s for s in verdict.criterion_scores if s.criterion == c.id and s.candidate == i), None)
            cells.append(
                f'<td class=score title="{esc(s.rationale) if s else ""}">{fmt(s.score if s else None, met)}'
                f"<div class=rationale>{esc(s.rationale) if s else ''}</div></td>"
            )
        note = "" if c.checkable else ' <span class="none">(not checkable offline)</span>'
        rows.append(f"<tr><td>{esc(c.statement)}{note}</td>{''.join(cells)}</tr>")
    return "".join(rows) + "</table>"


def _conversation(trace: Trace) -> list:
    try:
        return conversation(trace)
    except Exception:  # noqa: BLE001 - messages of a shape the viewer cannot read: each step shows its own
        return []


def _step(event, turns_by_event: dict[int, list]) -> str:
    """One event of the trace: a tool call, its result, a model turn, a repair, a node left."""
    data = event.data
    if event.kind == "tool_call":
        args = data.get("arguments") or {}
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items()) if isinstance(args, dict) else str(args)
        purpose = f" — {esc(data['purpose'])}" if data.get("purpose") else ""
        return f'<li class="tool">{esc(data.get("tool"))}({esc(shown)}){purpose}'
    if event.kind == "tool_result":
        return _tool_result(data)
    if event.kind in ("model_request", "model_response"):
        return "".join(_turn_html(t) for t in turns_by_event.get(event.seq, []))
    if event.kind in ("parse_failure", "repair", "retry"):
        return (
            f'<li class="model"><b>{esc(event.kind)}</b><pre>{esc(json.dumps(data, indent=1, default=str))}</pre></li>'
        )
    if event.kind == "node_exit":
        return f'<li class="node"><span class=none>{esc(event.node)}</span></li>'
    return ""


def _tool_result(data: dict) -> str:
    """A tool's output (folded), its error, and the images it made (crops, masks) small."""
    output = json.dumps(data.get("output"), indent=1, default=str)
    error = f"<div class=err>error: {esc(data['error'])}</div>" if data.get("error") else ""
    produced = data.get("produced") or {}
    crops = "".join(
        f'<img src="/artifact/{quote(str(h))}.png" alt="{esc(n)}" style="max-height:90px;margin:4px" title="{esc(n)}">'
        for n, h in (produced.items() if isinstance(produced, dict) else [])
        if isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)
    )
    return f"{error}<details><summary>output</summary><pre>{esc(output)}</pre></details>{crops}</li>"


def _turn_html(turn) -> str:
    """One turn of the model's conversation: who, what (newlines kept), the tools it called."""
    images = f" <span class=none>[{turn.images} image{'s' if turn.images != 1 else ''}]</span>" if turn.images else ""
    calls = "".join(f"<div class=call>→ {esc(c)}</div>" for c in turn.tool_calls)
    text = f"<div class=said>{esc(turn.text)}</div>" if turn.text else ""
    return f'<li class="model turn {esc(turn.role)}"><b>{esc(turn.role)}</b>{images}{text}{calls}</li>'


def coverage_section(verdict: Verdict) -> str:
    """Per candidate: which content criteria were checked, which were not and why, and an abstention's reason."""
    if not verdict.coverage:
        return ""
    statements = {c.id: c.statement for c in verdict.rubric}
    rows = []
    for i, cov in enumerate(verdict.coverage):
        unchecked = "".join(
            f"<li>{esc(statements.get(cid, cid))} — <span class=none>{esc(why)}</span></li>"
            for cid, why in cov.unchecked.items()
        )
        abstain = f"<p class=err>abstained: {esc(cov.abstain_reason)}</p>" if cov.abstain_reason else ""
        rows.append(
            f"<div class=coverage><b>candidate {i}</b>: {len(cov.checked)} of "
            f"{len(cov.checked) + len(cov.unchecked)} content criteria checked ({cov.share:.0%})"
            f"{abstain}{'<ul>' + unchecked + '</ul>' if unchecked else ''}</div>"
        )
    return "<h3>Coverage</h3>" + "".join(rows)


def trace_page(store: Store, trace_id: str) -> str:
    trace = store.trace(trace_id)
    verdict = store.verdict(trace.verdict_id) if trace.verdict_id else None
    return page(f"trace {esc(trace.id[:12])}", trace_section(store, trace, verdict))


def _diff_table(a: Verdict, b: Verdict) -> str:
    from scrutiny.traces import diff_verdicts, same_task

    if not same_task(a, b):
        return "<p class=none>different tasks: shown side by side without a criterion diff</p>"
    diff = diff_verdicts(a, b)
    rows = "".join(
        f"<tr><td>{esc(r.statement)}</td><td>{esc(r.candidate)}</td><td class=score>{fmt(r.a)}</td>"
        f"<td class=score>{fmt(r.b)}</td><td class=score>{'' if r.delta is None else f'{r.delta:+.2f}'}</td></tr>"
        for r in diff.rows
    )
    return (
        f"<h2>Criterion by criterion ({'identical' if diff.identical else 'different'})</h2>"
        f"<table class=diff><tr><th>criterion</th><th>candidate</th><th>A</th><th>B</th><th>Δ</th></tr>{rows}</table>"
    )


def compare_page(store: Store, query: dict[str, list[str]]) -> str:
    ids = query.get("t", []) or [x for x in (query.get("a", [""])[0], query.get("b", [""])[0]) if x]
    if len(ids) != 2:
        raise ValueError("tick exactly two traces to compare")
    traces = [store.trace(i) for i in ids]
    verdicts = [store.verdict(t.verdict_id) if t.verdict_id else None for t in traces]
    diff_html = guarded("the criterion diff", _diff_table, *verdicts) if all(verdicts) else ""
    columns = "".join(
        f"<section><h1>{label}</h1>{trace_section(store, t, v)}</section>"
        for label, t, v in zip("AB", traces, verdicts)
    )
    return page("compare", f"{diff_html}<div class=cols>{columns}</div>")
