"""Labelling in the viewer: a queue from the traces, five pairs labelled with the keyboard in a real
Chromium, the labels exported in the bench format and learned from by `skills evolve`."""

import json

import pytest
from typer.testing import CliRunner

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.cli import app
from scrutiny.testing.scenes import fitted_sign, grid, shapes
from scrutiny.viewer import serve_in_thread

runner = CliRunner()


SLOW_MACHINE_MS = 120_000
"""How long a page may take to reach the state a step waits for, on a machine busy with other tests."""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def fill(store):
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    words = ["OPEN", "SALE", "BREAD", "EXIT", "HOTEL", "CAFE"]
    for k, word in enumerate(words):
        typo = word[1] + word[0] + word[2:]
        good, bad = fitted_sign(word), fitted_sign(typo)
        judge.compare(*((good, bad) if k % 2 == 0 else (bad, good)), f'A sign that says "{word}"')
    judge.compare(shapes(grid(3, "circle", "red")), shapes(grid(2, "circle", "red")), "three red circles")


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_label_five_pairs_with_the_keyboard_and_evolve_from_them(tmp_path, browser, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SCRUTINY_HOME", str(home))
    store = Store(home=home)
    fill(store)
    made = run("label", "queue", "signs", "--traces", "--prompt", "sign")
    assert made.exit_code == 0 and "6 new items" in made.output
    assert "0 new items, 6 in all" in run("label", "queue", "signs", "--traces", "--prompt", "sign").output
    assert "queue names are" in run("label", "queue", "../x", "--traces").output
    from playwright.sync_api import expect

    server, url = serve_in_thread(store)
    try:
        page = browser.new_page()
        page.goto(url + "/label")
        page.click("text=signs")
        page.fill("input[name=labeller]", "ann")
        page.click("text=start")
        expect(page.locator("h2")).to_contain_text('"', timeout=SLOW_MACHINE_MS)
        assert "judge:" not in page.inner_text("main")  # the judge's evidence is hidden by default
        for k in range(5):
            prompt = page.inner_text("h2")
            word = prompt.split('"')[1]
            alts = page.locator("figure img").evaluate_all("els => els.map(e => e.alt)")
            assert alts == ["a", "b"]
            # the right spelling is first in even comparisons (see fill): press its key
            key = "a" if ["OPEN", "SALE", "BREAD", "EXIT", "HOTEL", "CAFE"].index(word) % 2 == 0 else "b"
            page.keyboard.press(key)  # the labelling keys
            # wait on the page's state, not a navigation with a fixed timeout: a busy machine is slow
            expect(page.locator("main")).to_contain_text(f"{k + 1} of 6 labelled", timeout=SLOW_MACHINE_MS)
        page.keyboard.press("e")
        expect(page.locator("main")).to_contain_text("judge:", timeout=SLOW_MACHINE_MS)  # shown when asked
        assert page.locator("script:not([src])").count() == 0  # no inline script
    finally:
        server.shutdown()
    labels = store.labels("signs")
    assert len(labels) == 5 and all(label.labeller == "ann" for _, label in labels)
    exported = run("label", "export", "signs", "--out", tmp_path / "prefs.jsonl")
    assert exported.exit_code == 0 and "5 labels" in exported.output
    rows = [json.loads(line) for line in (tmp_path / "prefs.jsonl").read_text().splitlines()]
    assert all(len(r["images"]) == 2 and r["preferred"] in (0, 1) for r in rows)
    bench = run("bench", tmp_path / "prefs.jsonl", "--json")
    assert bench.exit_code == 0, bench.output
    evolved = run("skills", "evolve", "--labels", "signs", "--json")
    assert evolved.exit_code == 0, evolved.output


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    connection.putrequest("POST", "/label", skip_accept_encoding=True)
    for name, value in {"Content-Type": "application/x-www-form-urlencoded", **headers}.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    return connection.getresponse().status


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_labels_come_only_from_the_viewers_own_pages_and_count_once(tmp_path):
    import re
    import urllib.parse
    import urllib.request

    import pytest

    from scrutiny.labels import items_from_traces
    from scrutiny.memory import StoreError

    store = Store(home=tmp_path)
    fill(store)
    store.add_label_items("q", items_from_traces(store))
    store.add_label_items("other", items_from_traces(store)[:1])
    item, _, _ = store.next_label_item("q", "ann")
    server, url = serve_in_thread(store)
    try:
        form = urllib.request.urlopen(url + "/label?queue=q&labeller=ann").read().decode()
        token = re.search(r'name=token value="([0-9a-f]{32})"', form).group(1)
        host = urllib.parse.urlparse(url).netloc
        fields = {"queue": "q", "labeller": "ann", "item": str(item.id), "choice": "0", "token": token}
        good = urllib.parse.urlencode(fields).encode()
        length = {"Content-Length": str(len(good))}
        assert post(url, good, {**length, "Origin": "http://evil.example"}) == 403  # another site
        assert post(url, good, length) == 403  # no Origin and no Referer
        assert post(url, good, {**length, "Referer": "http://evil.example/label"}) == 403
        for bad in ({"token": "0" * 32}, {"token": ""}, {"choice": "²"}, {"choice": "9"}, {"item": "1" * 40}):
            body = urllib.parse.urlencode({**fields, **bad}).encode()
            assert post(url, body, {"Content-Length": str(len(body)), "Origin": url}) == 400, bad
        for length_header in ("abc", "-1", "", "99999999999"):
            assert post(url, good, {"Content-Length": length_header, "Origin": url}) == 400, length_header
        assert store.labels("q") == []
        for _ in range(5):  # a replayed post replaces the label: one labeller, one item, one label
            assert post(url, good, {**length, "Referer": f"http://{host}/label?queue=q"}) == 303
        changed = urllib.parse.urlencode({**fields, "choice": "tie"}).encode()
        assert post(url, changed, {"Content-Length": str(len(changed)), "Origin": url}) == 303
        labels = store.labels("q")
        assert len(labels) == 1 and labels[0][1].preferred is None  # the newest label counts
        assert len(store.labels("q", history=True)) == 6 and store.label_queues()["q"][1] == 1
        with pytest.raises(StoreError, match="in queue 'other'"):
            store.record_label(item.id, 0, "ann", queue="other")  # an item of q named with queue other
    finally:
        server.shutdown()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_queue_of_the_comparisons_two_libraries_decide_differently(tmp_path, monkeypatch):
    from scrutiny.skills.library import Skill, SkillLibrary

    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path))
    store = Store(home=tmp_path)
    fill(store)  # six sign comparisons and one of circles, judged with the built-in library
    blind = SkillLibrary.builtin().with_skill(
        Skill(
            name="learned-weights",
            kind="rubric",
            version=1,
            description="A library that does not care how many things there are.",
            when_to_use="Always.",
            body="Counts weigh nothing.",
            params={"always": True, "weights": {"count": 0.0}},
        )
    )
    # judged without caring for counts, quality alone would decide: the verdict abstains instead, and
    # the built-in library (which counts) prefers the two circles, so a person's label settles it
    three, two = shapes(grid(3, "circle", "red")), shapes(grid(2, "circle", "red"))
    stored = Judge(store=store, library=blind, config=JudgeConfig(cache=False)).compare(three, two, "two red circles")
    assert stored.preferred is None and "weighs 0" in stored.coverage[0].abstain_reason
    made = run("label", "queue", "disputed", "--traces", "--disagree-with", "builtin")
    assert made.exit_code == 0 and "1 new item," in made.output, made.output  # the built-in library counts
    (item, done, total) = store.next_label_item("disputed", "ann")
    assert item.prompt == "two red circles" and item.trace_id == stored.trace_id and total == 1
