"""The viewer against hostile data and hostile requests: nothing injected, no script runs, strict queries."""

import http.client
import json
import re
import time
import urllib.parse
import uuid

import pytest

from scrutiny import Criterion, Judge, JudgeConfig
from scrutiny.testing.scenes import fitted_sign
from scrutiny.viewer import serve_in_thread

XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from scrutiny.memory import Store

    store = Store(home=tmp_path_factory.mktemp("hostile"))
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    rubric = [
        Criterion(
            id="text_1", statement=f"The sign reads {XSS}", dimension="text", check={"kind": "text", "text": XSS}
        ),
        Criterion(id=f"c{XSS}", statement=XSS, checkable=False),
    ]
    verdicts = [
        judge.judge(fitted_sign("<b>HI</b>"), f"A sign {XSS} 100% _x_", rubric=rubric),
        judge.judge(fitted_sign("OPEN"), "The words 50% off"),
    ]
    server, url = serve_in_thread(store)
    yield url, verdicts, store
    server.shutdown()


def get(url: str, path: str, host: str | None = None) -> tuple[int, str]:
    parts = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path, headers={"Host": host or parts.netloc})
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_hostile_text_is_shown_never_run(hostile, browser):
    url, verdicts, _ = hostile
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    a, b = (v.trace_id for v in verdicts)
    for path in ("/", f"/trace/{a}", f"/compare?t={a}&t={b}", "/?prompt=" + urllib.parse.quote(XSS)):
        page.goto(url + path)
        assert page.locator("img[onerror], script").count() == 0, path
        assert (
            page.evaluate(
                "[...document.querySelectorAll('*')].some(e => e.getAttributeNames().some(n => n.startsWith('on')))"
            )
            is False
        )
    page.goto(f"{url}/trace/{a}")
    assert XSS in page.inner_text("main")  # shown as text
    assert dialogs == []


def test_strict_queries_and_hosts(hostile):
    url, verdicts, _ = hostile
    assert get(url, "/?page=abc")[0] == 400 and get(url, "/?page=99999999999999999999")[0] == 400
    assert get(url, "/?page=0")[0] == 400 and get(url, "/?page=1")[0] == 200
    assert get(url, "/", host="evil.example:80")[0] == 403  # DNS rebinding
    assert get(url, "/", host="localhost")[0] == 200
    status, body = get(url, "/?prompt=" + urllib.parse.quote("50%"))
    assert status == 200 and "1 trace ·" in body  # "%" is a character, not a wildcard
    trace_id = verdicts[0].trace_id
    assert get(url, "/trace/" + "".join(f"%{ord(c):02x}" for c in trace_id))[0] == 200  # URL-decoded


def test_imports_refuse_ids_that_are_not_ids(hostile, tmp_path):
    from scrutiny.traces import export_lines, import_lines

    _, verdicts, store = hostile
    lines = list(export_lines(store, [store.trace(verdicts[1].trace_id)]))
    record = json.loads(lines[0])
    record["trace"]["id"] = XSS
    (tmp_path / "bad.jsonl").write_text(json.dumps(record) + "\n")
    report = import_lines(store, tmp_path / "bad.jsonl")
    assert report.added == 0 and len(report.refused) == 1
    assert re.fullmatch(r".*bad\.jsonl:1: trace id .* is not a scrutiny id .*", report.refused[0])


def odd_record(record: dict, kind: str, field: str, value) -> dict:
    """A copy of an exported record whose first `kind` event has `field` set to `value`, under a fresh id."""
    record = json.loads(json.dumps(record))
    record["trace"]["id"] = uuid.uuid4().hex
    event = next(e for e in record["trace"]["events"] if e["kind"] == kind)
    event["data"][field] = value
    return record


def test_an_import_refuses_what_the_viewer_cannot_draw_and_keeps_the_rest(hostile, tmp_path):
    from scrutiny.traces import export_lines, import_lines

    url, verdicts, store = hostile
    record = json.loads(next(export_lines(store, [store.trace(verdicts[1].trace_id)])))
    odd = [
        odd_record(record, "tool_call", "arguments", "image=candidate_0"),  # a string, not an object
        odd_record(record, "tool_result", "produced", ["candidate_0"]),  # a list, not an object
        odd_record(record, "tool_result", "produced", {"crop": "../../etc/passwd"}),
    ]
    fine = odd_record(record, "tool_call", "purpose", "read the sign")
    lines = [json.dumps(r) for r in (*odd, fine)] + ["{not json", json.dumps({"format": "other"})]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    report = import_lines(store, tmp_path / "mixed.jsonl")
    assert report.added == 1 and len(report.refused) == 5
    assert "arguments is str, not dict" in report.refused[0] and "produced is list" in report.refused[1]
    assert "not a content hash" in report.refused[2] and "mixed.jsonl:5: not JSON" in report.refused[3]
    assert all("\n" not in line for line in report.refused)
    assert not store.has_trace(odd[0]["trace"]["id"]) and store.has_trace(fine["trace"]["id"])
    assert get(url, "/trace/" + fine["trace"]["id"])[0] == 200


def test_a_stored_trace_of_odd_shape_still_gets_a_page(hostile):
    """Data written by another version, or straight into the database: the part that cannot be drawn
    says so, and the rest of the page is there."""
    url, verdicts, store = hostile
    trace = store.trace(verdicts[1].trace_id)
    bent = trace.model_copy(update={"id": uuid.uuid4().hex})
    for event in bent.events:
        if event.kind == "tool_call":
            event.data["arguments"] = "image=candidate_0"
        if event.kind == "tool_result":
            event.data["produced"] = ["candidate_0"]
    store.record_trace(bent)
    verdict = store.verdict(trace.verdict_id)
    for evidence in verdict.evidence:
        evidence.output = {"detections": "none", "lines": 5, "box_px": None, "regions": [[1, 2]]}
    verdict = verdict.model_copy(update={"id": uuid.uuid4().hex, "trace_id": bent.id})
    store.record_verdict(verdict)
    store.record_trace(bent.model_copy(update={"verdict_id": verdict.id}))
    for path in (f"/trace/{bent.id}", f"/compare?t={bent.id}&t={verdicts[1].trace_id}"):
        status, body = get(url, path)
        assert status == 200 and "Criteria" in body and "image=candidate_0" in body, path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/?since=99999999999h", "further back than a calendar goes"),
        ("/?since=" + "9" * 60, "cannot read"),
        ("/?prompt=" + "a" * 60_000, "at most 500 characters"),
        ("/?run=" + "r" * 5_000, "at most 500 characters"),
        ("/?min=nan", "between 0 and 1"),
        ("/?" + "&".join(f"x{k}=1" for k in range(500)), "too many query fields"),
    ],
)
def test_odd_queries_get_a_400_with_the_reason(hostile, path, reason):
    url, _, _ = hostile
    status, body = get(url, path)
    assert status == 400 and reason in body, (status, body[-300:])


def test_a_body_that_never_comes_is_cut_off_and_answered(hostile, monkeypatch):
    """Content-Length promises more than is sent: the server does not hold a thread for ever."""
    import socket

    from scrutiny.viewer.server import Handler

    monkeypatch.setattr(Handler, "timeout", 1)
    url, _, _ = hostile
    parts = urllib.parse.urlparse(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST /label HTTP/1.1\r\nHost: {parts.netloc}\r\nOrigin: {url}\r\nContent-Length: 500\r\n\r\nqueue=q".encode()
        )
        sock.settimeout(10)
        start = time.monotonic()
        data = sock.recv(1000)  # the server hangs up (or answers) once its read times out
        assert time.monotonic() - start < 8 and (data == b"" or data.startswith(b"HTTP/1."))


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_cli_filters_have_the_same_bounds(hostile, monkeypatch):
    from typer.testing import CliRunner

    from scrutiny.cli import app

    _, _, store = hostile
    monkeypatch.setenv("SCRUTINY_HOME", str(store.home))
    for args, reason in (
        (["--since", "99999999999h"], "further back than a calendar goes"),
        (["--prompt", "a" * 60_000], "at most 500 characters"),
        (["--run", "r" * 5_000], "no run with id"),
    ):
        result = CliRunner().invoke(app, ["traces", "list", *args])
        assert result.exit_code == 2 and reason in result.output and "SELECT" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
