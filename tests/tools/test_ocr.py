import json
import threading

import numpy as np
import pytest
from PIL import Image

from scrutiny.testing.scenes import available_fonts, sign
from scrutiny.tools import ocr
from scrutiny.tools.text_match import levenshtein


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@pytest.mark.parametrize("font_name", available_fonts())
@pytest.mark.parametrize("font_size", [28, 56, 96])
def test_reads_rendered_text_in_several_fonts_and_sizes(font_name, font_size):
    result = ocr(sign("OPEN 24 HOURS", font_name=font_name, font_size=font_size, size=(900, 320)))
    assert result.text == "OPEN 24 HOURS"
    assert result.lines[0].confidence > 0.8


@pytest.mark.parametrize("angle", [-12, 8, 15])
def test_reads_rotated_text(angle):
    assert ocr(sign("GRAND OPENING", angle=angle)).text == "GRAND OPENING"


def test_two_lines_come_back_top_to_bottom_with_boxes_in_image_coordinates():
    image = sign("FRESH BREAD\nDAILY", size=(640, 320), font_size=56)
    lines = ocr(image).lines
    assert [line.text for line in lines] == ["FRESH BREAD", "DAILY"]
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, _by2) = lines[0].box, lines[1].box
    assert ay2 <= by1 + 5 and 0 <= ax1 < ax2 <= 640 and 0 <= ay1 < ay2 <= 320
    assert ax2 - ax1 > bx2 - bx1  # "FRESH BREAD" is wider than "DAILY"


def test_region_reads_only_that_region_and_keeps_image_coordinates():
    image = sign("FRESH BREAD\nDAILY", size=(640, 320), font_size=56)
    full = ocr(image).lines
    lower = ocr(image, box=[0, 500, 1000, 1000])
    assert lower.text == "DAILY"
    assert lower.lines[0].box == pytest.approx(full[1].box, abs=3)


def test_blank_image_reads_nothing():
    assert ocr(Image.new("RGB", (300, 200), "white")).lines == []


def test_engine_is_shared_and_safe_across_threads():
    images = [sign(word) for word in ("ALPHA", "BRAVO", "CHARLIE", "DELTA")]
    results: dict[int, str] = {}

    def read(i):
        results[i] = ocr(images[i]).text

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(4)] == ["ALPHA", "BRAVO", "CHARLIE", "DELTA"]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_real_latin_script_images(shared_data):
    folder = shared_data / "rapidocr_test_images"
    labels = {row["image"]: row for row in map(json.loads, (folder / "labels.jsonl").read_text().splitlines())}
    for name in ("imgs/en.jpg", "imgs/en_rec.jpg", "imgs/latin.jpg", "imgs/issue_170.png"):
        lines = [line.text for line in ocr(Image.open(folder / name).convert("RGB")).lines]
        expected = labels[name]["expected_first_line"]
        # en.jpg's first line is a heading "3 MovieShots Dataset"; the label keeps only its "3".
        read = lines[0] if name != "imgs/en.jpg" else lines[0].split()[0]
        assert levenshtein(read.lower(), expected.lower()) <= max(1, len(expected) // 40), (name, read)
    assert ocr(Image.open(folder / "imgs/empty_black.jpg").convert("RGB")).lines == []


def test_the_engines_models_run_without_spinning_thread_pools():
    """On few cores the thread pools of OCR's three models spin on the cores the next model needs:
    every session the engine runs has spinning off (rapidocr builds them itself, so this catches a
    version that loads its models another way)."""
    from scrutiny.tools.ocr import ocr_engine

    engine = ocr_engine()
    sessions = [m.session.session for m in (engine.text_det, engine.text_cls, engine.text_rec)]
    entries = {s.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") for s in sessions}
    assert entries == {"0"}
    assert engine(np.zeros((64, 256, 3), np.uint8)).txts is None  # the reloaded sessions still run
