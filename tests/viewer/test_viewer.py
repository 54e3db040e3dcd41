"""The web viewer, driven in a real headless Chromium (Debian's `chromium`, via playwright)."""

import urllib.error
import urllib.request

import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import fitted_sign, grid, preference_pairs, shapes
from scrutiny.viewer import PAGE_SIZE, serve_in_thread

pytestmark = pytest.mark.slow  # a judged store and a real Chromium: the full suite runs them

SIGN = 'The words "OPEN 24 HOURS"'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from scrutiny.memory import Store

    store = Store(home=tmp_path_factory.mktemp("viewer"))
    judge = Judge(store=store)
    verdicts = [
        judge.judge(fitted_sign("OPNE 24 HOURS"), SIGN),
        judge.compare(shapes(grid(3, "circle", "red")), shapes(grid(2, "circle", "red")), "three red circles"),
    ]
    pair = preference_pairs("edit", 1, seed=4)[0]
    verdicts.append(judge.edit(pair.source, [pair.better, pair.worse], pair.prompt))
    verdicts.append(judge.judge(fitted_sign("OPEN 24 HOURS"), SIGN))
    again = Judge(store=store, config=JudgeConfig(cache=False))
    verdicts.append(again.judge(fitted_sign("OPNE 24 HOURS"), SIGN))  # the same task judged twice
    verdicts.append(judge.judge(fitted_sign("OPEN"), 'A storefront sign that says "OPEN"'))  # the sign: unseen
    for i in range(PAGE_SIZE):  # enough traces for a second page
        judge.judge(shapes(grid(1 + i % 4, "square", "blue")), f"{i % 4 + 1} blue squares, run {i}")
    server, url = serve_in_thread(store)
    yield url, verdicts
    server.shutdown()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_pages_are_served_on_loopback_without_a_browser(site):
    url, verdicts = site
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/trace/ffffffff")
    assert missing.value.code == 404
    page = urllib.request.urlopen(url + "/").read().decode()
    assert "<script" not in page and "http" not in page.split("<main>")[1].split("</main>")[0].replace(url, "")


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_list_click_through_to_a_trace_with_boxes_and_steps(site, browser, tmp_path):
    url, verdicts = site
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(url + "/")
    assert page.inner_text("h1") == "Traces"
    rows = page.locator("#traces tr")
    assert rows.count() == PAGE_SIZE + 1  # a page, not everything
    page.fill("input[name=prompt]", "OPEN 24")
    page.click("form.filters button")
    page.wait_for_load_state()
    page.click(f'a[href="/trace/{verdicts[0].trace_id}"]')
    page.wait_for_load_state()
    assert page.url.endswith(verdicts[0].trace_id)
    text = page.inner_text("main")
    assert 'OCR read "OPNE 24 HOURS", expected "OPEN 24 HOURS"' in text
    assert "zoom(" in text and "no model messages (offline policy)" in text
    assert page.locator('rect[data-kind="ocr"]').count() >= 1 and page.locator('rect[data-kind="crop"]').count() == 1
    assert page.evaluate("document.querySelector('.frame img').naturalWidth") > 0  # the image itself loaded
    page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)
    assert (tmp_path / "trace.png").stat().st_size > 10_000


def test_paging_and_filtering(site, browser):
    url, _ = site
    page = browser.new_page()
    page.goto(url + "/")
    page.click("a[rel=next]")
    page.wait_for_load_state()
    assert "page 2 of 2" in page.inner_text("main") and page.locator("#traces tr").count() == 6 + 1
    page.fill("input[name=prompt]", "OPEN 24")
    page.click("form.filters button")
    page.wait_for_load_state()
    assert page.locator("#traces tr").count() == 3 + 1


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_filters_sorting_thumbnails_and_numbered_pages(site, browser):
    url, verdicts = site
    page = browser.new_page()
    page.goto(url + "/?min=0.9&sort=best")
    scores = [float(s.split()[0]) for s in page.locator("#traces td.score").all_inner_texts()]
    assert scores and min(scores) >= 0.9 and scores == sorted(scores, reverse=True)
    page.goto(url + "/?sort=worst")
    assert page.locator("#traces img.thumb").count() == PAGE_SIZE  # the first candidate of each
    pager = page.inner_text("p.pager")
    assert "1" in pager and "2" in pager and page.locator("p.pager a[rel=next]").count() == 1
    page.select_option("select[name=abstained]", "yes")
    page.click("form.filters button")
    page.wait_for_load_state()
    assert "abstained=yes" in page.url and "0 traces" in page.inner_text("main")  # every verdict here decided
    page.goto(url + "/?page=9")
    assert "there is no page 9" in page.inner_text("main")
    page.click("text=the last page")
    assert "page 2 of 2" in page.inner_text("main")


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_compare_across_pages_by_pinning(site, browser):
    url, verdicts = site
    page = browser.new_page()
    first = verdicts[0].trace_id  # the oldest: on the last page
    page.goto(url + "/?page=2")
    page.click(f'tr:has(a[href="/trace/{first}"]) a.pin')
    page.wait_for_load_state()
    assert "pinned" in page.inner_text("#traces")
    page.click("p.pager a:text('1')")
    page.wait_for_load_state()
    newest = page.locator("#traces input[type=checkbox]").first
    newest.check()
    page.click("#compare")
    page.wait_for_load_state()
    assert page.locator("section").count() == 2 and first in page.inner_text("main")


def test_compare_two_traces_side_by_side(site, browser):
    url, verdicts = site
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url + "/?prompt=OPEN+24")
    page.check(f'input[value="{verdicts[0].trace_id}"]')
    page.check(f'input[value="{verdicts[4].trace_id}"]')
    page.click("#compare")
    page.wait_for_load_state()
    assert page.locator("section").count() == 2
    text = page.inner_text("main")
    assert "Criterion by criterion (identical)" in text and "OPNE 24 HOURS" in text
    rows = page.locator("table.diff tr")
    assert rows.count() == 4 + 1  # the text, other text, quality, the degenerate gate; a header
    assert any(r.startswith("The image is a picture, not noise") for r in rows.all_inner_texts())
    page.goto(url + f"/compare?t={verdicts[0].trace_id}&t={verdicts[3].trace_id}")  # different images
    assert "different tasks" in page.inner_text("main") and page.locator("section").count() == 2


def test_edit_trace_shows_source_and_changed_regions(site, browser):
    url, verdicts = site
    page = browser.new_page()
    page.goto(url + f"/trace/{verdicts[2].trace_id}")
    assert page.locator("figure").count() == 3  # two edits and the source
    assert page.locator('rect[data-kind="diff"]').count() >= 2
    assert "preferred: candidate 0" in page.inner_text("p.summary")


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_trace_says_what_was_not_checked_and_why(site, browser):
    url, verdicts = site
    page = browser.new_page()
    page.goto(f"{url}/trace/{verdicts[5].trace_id}")
    text = page.inner_text("main")
    assert "Coverage" in text and "2 of 4 content criteria checked (50%)" in text, text
    assert "The image shows a sign — not checkable offline" in text
