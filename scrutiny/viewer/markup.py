"""The pieces every page is made of: escaping, scores, the page frame and its style, a 400."""

from __future__ import annotations

import html
from typing import Any

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:16px 20px;max-width:1400px}table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}th{background:#eaeef2}
.score{font-variant-numeric:tabular-nums;white-space:nowrap}.rationale{white-space:normal;font-size:12px;color:#57606a}
table.criteria td:first-child{width:32%}.low{color:#cf222e;font-weight:600}
.none{color:#6e7781}figure{display:inline-block;margin:0 16px 16px 0;vertical-align:top}
.frame{position:relative;display:inline-block}.frame img{display:block;max-width:480px;height:auto}
.frame svg{position:absolute;left:0;top:0;width:100%;height:100%}figcaption{font-size:12px;color:#57606a}
pre{background:#fff;border:1px solid #d0d7de;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}.pager a{margin-right:12px}
.legend span{display:inline-block;margin-right:12px;font-size:12px}.tool{margin:6px 0}
form.filters input{margin-right:8px}details{margin:2px 0}.err{color:#cf222e}
img.thumb{display:block;border:1px solid #d0d7de}.pager a,.pager b{margin:0 3px}
li.turn{list-style:none;border-left:3px solid #d0d7de;padding:2px 8px;margin:4px 0;background:#fff}
li.turn.assistant{border-color:#1c7ed6}li.turn.tool{border-color:#2f9e44}li.turn.system{border-color:#8c959f}
svg.chart{background:#fff;border:1px solid #d0d7de}p.best a,p.worst a{display:inline-block;margin-right:8px;text-align:center}
.said{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}.call{color:#1c7ed6;font-family:ui-monospace,monospace}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(score: float | None, met: float = 0.9) -> str:
    """A score, in alarm red only below the score from which it counts as met (a quality score of
    0.85 meets its 0.6)."""
    if score is None:
        return '<span class="none">—</span>'
    return f'<span class="{"low" if score < met else ""}">{score:.2f}</span>'


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)} · scrutiny</title>"
        f'<style>{STYLE}</style></head><body><header><a href="/">scrutiny</a> · <a href="/">traces</a> · <a href="/runs">runs</a> · <a href="/label">label</a></header>'
        f"<main>{body}</main></body></html>"
    )


class BadRequest(ValueError):
    """A query the viewer will not guess at (a page that is not a number): 400."""


def guarded(what: str, render, *args) -> str:
    """One part of a page, or, when its data has a shape this viewer cannot draw (an imported or
    older trace), a line saying which part could not be shown and why: a page never fails as a whole."""
    try:
        return render(*args)
    except Exception as e:  # noqa: BLE001 - any failure of one part is shown in that part
        return f"<p class=err>could not show {esc(what)}: {esc(type(e).__name__)}: {esc(str(e)[:200])}</p>"
