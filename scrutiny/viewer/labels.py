"""The labelling pages: the next item of a queue for a labeller, and the form that stores a label."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from urllib.parse import quote, urlencode

from scrutiny.memory import Store, StoreError
from scrutiny.viewer.markup import BadRequest, esc, fmt, page


def label_page(store: Store, query: dict[str, list[str]], secret: bytes = b"") -> str:
    """The next item of a labelling queue for this labeller: the prompt and the images, the judge's
    scores only when asked (`evidence=1`, so labels are not anchored by the judge), and a form whose
    buttons have access keys: a, b, c, … for the better image, t for a tie, s to skip."""
    queue = query.get("queue", [""])[0]
    labeller = query.get("labeller", [""])[0].strip()
    queues = store.label_queues()
    if queue not in queues:
        return _queues_page(queues)
    if not labeller:
        return _name_form(queue)
    item, done, total = store.next_label_item(queue, labeller)
    evidence = query.get("evidence", [""])[0] == "1"
    keep = {"queue": queue, "labeller": labeller}
    toggle = urlencode({**keep, **({} if evidence else {"evidence": "1"})})
    head = (
        f"<h1>Labelling: {esc(queue)}</h1><p>{esc(labeller)} · {done} of {total} labelled · "
        f'<a id=evidence href="/label?{esc(toggle)}">{"hide" if evidence else "show"} the judge\'s evidence</a></p>'
    )
    if item is None:
        return page("label", head + "<p>Every item of this queue is labelled. Thank you.</p>")
    return page("label", head + _item_form(store, item, keep, evidence, secret))


def _name_form(queue: str) -> str:
    """Who labels: asked once, then carried in every link and form."""
    return page(
        "label",
        f"<h1>Labelling: {esc(queue)}</h1><form method=get action=/label>"
        f'<input type=hidden name=queue value="{esc(queue)}"><input name=labeller placeholder="your name" autofocus>'
        "<button>start</button></form>",
    )


def _queues_page(queues: dict[str, tuple[int, int]]) -> str:
    """Every labelling queue with its items and labels, or how to make one."""
    listed = "".join(
        f'<li><a href="/label?{esc(urlencode({"queue": q}))}">{esc(q)}</a>: {n} items, {k} labels</li>'
        for q, (n, k) in sorted(queues.items())
    )
    hint = "make one with <code>scrutiny label queue NAME --traces</code>"
    return page("label", f"<h1>Labelling</h1><ul>{listed or f'<li>no queues yet: {hint}</li>'}</ul>")


def _judge_scores(store: Store, item, count: int) -> list[str]:
    """The stored verdict's score under each image, when the judge's evidence is asked for."""
    try:
        trace = store.trace(item.trace_id)
        verdict = store.verdict(trace.verdict_id) if trace.verdict_id else None
    except StoreError:
        verdict = None
    if verdict is None:
        return [""] * count
    return [f"judge: {fmt(s)}" for s in verdict.scores] + [""] * (count - len(verdict.scores))


def _figure(digest: str, caption: str, alt: str) -> str:
    return (
        f'<figure style="display:inline-block;margin:6px"><img src="/artifact/{quote(digest)}.png" alt="{alt}" '
        f'style="max-width:420px;max-height:420px"><figcaption>{caption}</figcaption></figure>'
    )


def _item_form(store: Store, item, keep: dict[str, str], evidence: bool, secret: bytes) -> str:
    """An item: its prompt, its source (for an edit), its images lettered A, B, ..., and the form whose
    buttons label it (with this page's token)."""
    images = json.loads(item.images_json)
    scores = _judge_scores(store, item, len(images)) if evidence and item.trace_id else [""] * len(images)
    letters = "abcdefghij"
    figures = "".join(_figure(h, f"<b>{letters[k].upper()}</b> {scores[k]}", letters[k]) for k, h in enumerate(images))
    source = _figure(item.source, "source", "source") if item.source else ""
    buttons = "".join(
        f"<button name=choice value={k} accesskey={letters[k]}>{letters[k].upper()} is better</button> "
        for k in range(len(images))
    )
    token = form_token(secret, keep["queue"], item.id, keep["labeller"])
    hidden = {**keep, "item": item.id, "token": token} | ({"evidence": "1"} if evidence else {})
    return (
        f"<h2>{esc(item.prompt)}</h2>{source}<div>{figures}</div>"
        + '<form method=post action="/label">'
        + "".join(f'<input type=hidden name={k} value="{esc(v)}">' for k, v in hidden.items())
        + f"{buttons}<button name=choice value=tie accesskey=t>tie</button> "
        + "<button name=choice value=skip accesskey=s>skip</button></form>"
        + "<p class=none>keys: A, B, … for the better image · T a tie · S skip · E the judge's evidence</p>"
        + '<script src="/label.js"></script>'
    )


LABEL_KEYS_JS = """// scrutiny's labelling keys: a, b, c, ... choose an image; t a tie; s skip; e the judge's evidence
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches("input, textarea")) return;
  const key = event.key.toLowerCase();
  const target = key === "e" ? document.getElementById("evidence")
    : document.querySelector(`button[accesskey="${CSS.escape(key)}"]`);
  if (target) { event.preventDefault(); target.click(); }
});
"""
"""Served as /label.js (a file of its own, no user data in it): pages carry no inline script."""


def form_token(secret: bytes, queue: str, item: int, labeller: str) -> str:
    """The token a label form carries: only a page this server handed out (for this queue, item and
    labeller) can post a label, so another site cannot forge one even from a browser on this machine."""
    message = "\0".join((queue, str(item), labeller)).encode("utf-8", "replace")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def record_label(store: Store, form: dict[str, list[str]], secret: bytes = b"") -> str:
    """Store one label from the /label form; returns where to go next. The form must carry this
    page's token, and its item must belong to the queue it names."""
    fields = {k: (form.get(k, [""])[0]) for k in ("queue", "labeller", "item", "choice", "evidence", "token")}
    labeller = fields["labeller"].strip()
    if not labeller or len(labeller) > 100 or not re.fullmatch(r"[0-9]{1,12}", fields["item"]):
        raise BadRequest("a label needs a labeller (at most 100 characters) and an item number")
    item = int(fields["item"])
    if not hmac.compare_digest(fields["token"], form_token(secret, fields["queue"], item, labeller)):
        raise BadRequest("this form's token does not match: reload the labelling page and label again")
    choice = fields["choice"]
    if choice != "skip":
        if choice != "tie" and not re.fullmatch(r"[0-9]{1,3}", choice):
            raise BadRequest(f"choice must be an image index, tie or skip, got {choice[:20]!r}")
        store.record_label(item, None if choice == "tie" else int(choice), labeller, queue=fields["queue"])
    keep = {"queue": fields["queue"], "labeller": labeller}
    if fields["evidence"] == "1":
        keep["evidence"] = "1"
    return "/label?" + urlencode(keep)
