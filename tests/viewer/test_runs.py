"""Run pages in the viewer, in a real headless Chromium: a batch judged by `scrutiny judge --out`, a
training run as the trainer records it, and the two side by side."""

import json

import pytest
from typer.testing import CliRunner

from scrutiny.testing.scenes import fitted_sign, storefront
from scrutiny.viewer import serve_in_thread

pytestmark = pytest.mark.slow  # a judged batch and a real Chromium: the full suite runs them


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from scrutiny import Judge, JudgeConfig
    from scrutiny.cli import app
    from scrutiny.memory import Store

    home, folder = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("batch")
    rows = []
    for k, word in enumerate(["OPEN", "OPNE", "OPEN", "0PEN", "OPEN"]):
        fitted_sign(word, size=(400 + 16 * k, 220)).save(folder / f"{k}.png")  # five different images
        rows.append({"image": f"{k}.png", "prompt": 'A sign that says "OPEN"'})
    storefront("", seed=3).save(folder / "dream.png")
    rows.append({"image": "dream.png", "prompt": "a surreal dreamscape of pure feeling"})  # nothing checkable
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    patch = pytest.MonkeyPatch()
    patch.setenv("SCRUTINY_HOME", str(home))
    done = CliRunner().invoke(app, ["judge", str(folder / "items.jsonl"), "--out", str(folder / "out.jsonl")])
    assert done.exit_code == 0, done.output
    store = Store(home=home)
    batch = next(r for r in store.runs() if r.kind == "judge")
    # a training run, recorded through the store as the trainer records it: history per step, alarms,
    # and the judgments it kept whole, with their step
    store.start_run("train", "scrutiny train toy.toml", {"steps": 3}, run_id="train-1")
    history = [
        {"step": s, "reward_mean": 0.3 + 0.1 * s, "criterion/text": 0.2 * s, "image_std": 40.0} for s in (1, 2, 3)
    ]
    store.update_run(
        "train-1", counts={"steps": 3}, metrics={"alarms": ["image_std fell 60% in 2 steps"]}, items=history
    )
    judge = Judge(store=store, config=JudgeConfig(cache=False))
    for step in (1, 2, 3):
        judge.judge(
            fitted_sign("OPEN" if step == 3 else "OPNE"),
            'A sign that says "OPEN"',
            metadata={"run": "train-1", "step": step},
        )
    store.finish_run("train-1", "done", counts={"steps": 3})
    server, url = serve_in_thread(store)
    yield url, batch.id
    server.shutdown()
    patch.undo()


def test_a_batch_run_page_shows_scores_criteria_abstentions_and_the_extremes(runs, browser):
    url, batch = runs
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(url + "/runs")
    page.click(f'a[href="/run/{batch}"]')
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert f"Run {batch}" in text and "6 judgments" in text
    assert page.locator("svg[data-chart=histogram] rect").count() == 10
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in page.inner_text("#criteria").splitlines()[1:]}
    met, checked = (int(n) for n in rows["text"][1].split(" of "))
    assert checked == 10 and 5 <= met < 10  # two text criteria per sign; a typo was caught
    assert rows["object"][1:] == ["0 of 0", "7"]  # the sign, unseen offline, counted as not checked
    assert "no content criterion could be checked" in page.inner_text("#abstentions")  # the dreamscape
    best, worst = page.locator("p.best a"), page.locator("p.worst a")
    assert best.count() == worst.count() == 5
    assert page.evaluate("document.querySelector('p.best img').naturalWidth") > 0  # thumbnails load
    best.first.click()
    page.wait_for_load_state()
    assert "/trace/" in page.url and "OPEN" in page.inner_text("main")


def test_a_training_run_page_shows_curves_alarms_and_samples_per_step(runs, browser):
    url, _ = runs
    page = browser.new_page()
    page.goto(url + "/run/train-1")
    assert page.locator('svg[data-chart="reward_mean"] polyline').count() == 1
    assert page.locator('svg[data-chart="criterion/text"]').count() == 1
    assert "reward_mean: 0.4 to 0.6 over steps 1–3" in page.inner_text("#curves")
    assert "image_std fell 60%" in page.inner_text("#alarms")
    steps = page.locator("#samples tr td:first-child")
    assert [steps.nth(k).inner_text() for k in range(steps.count())] == ["1", "2", "3"]
    assert page.locator("#samples a[href^='/trace/'] img").count() == 3  # each step's kept sample, linked


def test_two_runs_side_by_side_and_bad_run_ids(runs, browser):
    url, batch = runs
    page = browser.new_page()
    page.goto(url + "/runs")
    page.check(f'input[value="{batch}"]')
    page.check('input[value="train-1"]')
    page.click("#compare-runs")
    page.wait_for_load_state()
    columns = page.locator("#two-runs > div")
    shown = sorted(columns.nth(k).inner_text().splitlines()[0] for k in range(columns.count()))
    assert shown == sorted([f"Run {batch}", "Run train-1"])  # the list's order, newest first
    assert page.goto(url + "/run/no-such-run").status == 404
    assert page.goto(url + "/runs/compare?r=" + batch).status == 400
    assert page.goto(url + "/run/%3Cscript%3E").status == 400
