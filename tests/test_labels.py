"""Labelling in the viewer: a queue from the traces, five pairs labelled with the keyboard in a real
Chromium, the labels exported in the bench format and learned from by `skills evolve`."""

import json

from typer.testing import CliRunner

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.cli import app
from scrutiny.testing.scenes import fitted_sign, grid, shapes
from scrutiny.viewer import serve_in_thread

runner = CliRunner()


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


def test_label_five_pairs_with_the_keyboard_and_evolve_from_them(tmp_path, browser, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SCRUTINY_HOME", str(home))
    store = Store(home=home)
    fill(store)
    made = run("label", "queue", "signs", "--traces", "--prompt", "sign")
    assert made.exit_code == 0 and "6 new items" in made.output
    assert "0 new items, 6 in all" in run("label", "queue", "signs", "--traces", "--prompt", "sign").output
    assert "queue names are" in run("label", "queue", "../x", "--traces").output
    server, url = serve_in_thread(store)
    try:
        page = browser.new_page()
        page.goto(url + "/label")
        page.click("text=signs")
        page.fill("input[name=labeller]", "ann")
        page.click("text=start")
        assert "judge:" not in page.inner_text("main")  # the judge's evidence is hidden by default
        for k in range(5):
            prompt = page.inner_text("h2")
            word = prompt.split('"')[1]
            alts = page.locator("figure img").evaluate_all("els => els.map(e => e.alt)")
            assert alts == ["a", "b"]
            # the right spelling is first in even comparisons (see fill): press its key
            key = "a" if ["OPEN", "SALE", "BREAD", "EXIT", "HOTEL", "CAFE"].index(word) % 2 == 0 else "b"
            with page.expect_navigation():
                page.keyboard.press(key)  # the labelling keys
            assert f"{k + 1} of 6 labelled" in page.inner_text("main")
        with page.expect_navigation():
            page.keyboard.press("e")
        assert "judge:" in page.inner_text("main")  # shown when asked
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


def test_labels_come_only_from_the_viewers_own_pages(tmp_path):
    import urllib.error
    import urllib.request

    store = Store(home=tmp_path)
    fill(store)
    from scrutiny.labels import items_from_traces

    store.add_label_items("q", items_from_traces(store))
    item, _, _ = store.next_label_item("q", "ann")
    server, url = serve_in_thread(store)
    try:
        data = f"queue=q&labeller=ann&item={item.id}&choice=0".encode()
        forged = urllib.request.Request(url + "/label", data=data, headers={"Origin": "http://evil.example"})
        try:
            urllib.request.urlopen(forged)
            raise AssertionError("a cross-site post was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403
        bad = urllib.request.Request(url + "/label", data=b"queue=q&labeller=ann&item=1&choice=9")
        try:
            urllib.request.urlopen(bad)
            raise AssertionError("a label for a missing image was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 400
        assert store.labels("q") == []
    finally:
        server.shutdown()


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
