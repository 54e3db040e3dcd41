"""The viewer against hostile data and hostile requests: nothing injected, no script runs, strict queries."""

import http.client
import json
import urllib.parse

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
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: trace id .* is not a scrutiny id"):
        import_lines(store, tmp_path / "bad.jsonl")
