"""Hostile inputs, each in one place: a clear one-line error, and nothing else in the batch lost."""

import os

import numpy as np
import pytest
from PIL import Image

from scrutiny import Judge, JudgeConfig
from scrutiny.agents.rubric import synthesize
from scrutiny.agents.rubric_files import load_rubric
from scrutiny.memory import Store, StoreError
from scrutiny.testing.scenes import fitted_sign
from scrutiny.tools import REGISTRY


def hostile_images(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not a picture")
    (tmp_path / "folder.png").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    torch = pytest.importorskip("torch")
    nan = torch.rand(3, 8, 8)
    nan[0, 0, 0] = float("nan")
    return {
        "zero-byte file": (tmp_path / "zero.png", "empty (0 bytes)"),
        "text named .png": (tmp_path / "text.png", "not an image file"),
        "a folder": (tmp_path / "folder.png", "is a folder"),
        "truncated file": (tmp_path / "cut.png", "unreadable or truncated"),
        "missing file": (tmp_path / "nope.png", "no such file"),
        "NaN tensor": (nan, "NaN or infinite"),
        "out-of-range tensor": (torch.full((3, 8, 8), 7.0), "must hold values in [0, 1]"),
        "wrong-shape tensor": (torch.rand(5, 8, 8), "must be CxHxW"),
        "wrong-shape array": (np.zeros((4, 4, 7), np.uint8), "HxWx3/4"),
    }


def test_every_hostile_image_is_its_own_error_and_the_batch_goes_on(tmp_path, store):
    cases = hostile_images(tmp_path)
    good = fitted_sign("OPEN")
    images = [good] + [image for image, _ in cases.values()] + [good]
    verdicts = Judge(store=store, config=JudgeConfig(cache=False)).judge_many(images, 'The words "OPEN"')
    assert verdicts[0].score > 0.9 and verdicts[-1].score > 0.9
    for (name, (_, expected)), verdict in zip(cases.items(), verdicts[1:-1]):
        assert verdict.abstained and verdict.error and expected in verdict.error, (name, verdict.error)
        assert "\n" not in verdict.error


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (lambda: Image.new("CMYK", (20, 10), (0, 255, 0, 0)), (20, 10)),
        (lambda: Image.fromarray(np.full((10, 20), 40000, np.uint16)), (20, 10)),
        (lambda: Image.new("RGBA", (20, 10), (255, 0, 0, 0)), (20, 10)),
        (lambda: Image.new("RGB", (1, 1), "red"), (1, 1)),
    ],
)
def test_unusual_but_valid_images_are_judged(make, size, store):
    verdict = Judge(store=store, config=JudgeConfig(cache=False)).judge(make(), "a red square")
    assert verdict.error is None and verdict.task.candidates[0]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_decompression_bombs_are_refused_and_the_limit_is_ours(tmp_path, monkeypatch):
    from scrutiny.core.images import ImageError, load_image

    Image.new("1", (12_000, 12_000)).save(tmp_path / "bomb.png")  # 144 MP of a few kilobytes
    with pytest.raises(ImageError, match="over the limit of 50,000,000.*raise SCRUTINY_MAX_PIXELS"):
        load_image(tmp_path / "bomb.png")
    monkeypatch.setenv("SCRUTINY_MAX_PIXELS", "400000000")  # past Pillow's own refusal (about 179 MP)
    Image.new("1", (20_000, 10_000)).save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png").size == (20_000, 10_000)
    monkeypatch.setenv("SCRUTINY_MAX_PIXELS", "abc")
    with pytest.raises(ImageError, match="SCRUTINY_MAX_PIXELS must be a whole number"):
        load_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("box", [[float("nan"), 0, 5, 5], [-5, -5, -1, -1], [100, 100, 200, 200], [3, 3, 3, 3]])
def test_bad_boxes_are_tool_errors(box):
    call = REGISTRY["crop"].invoke({"image": "x", "box": box, "units": "pixel"}, {"x": Image.new("RGB", (50, 50))})
    assert call.result is None and call.error and "\n" not in call.error


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_prompts_empty_and_huge():
    with pytest.raises(ValueError, match="prompt is empty"):
        synthesize("   ")
    criteria = synthesize("a red cat " * 100_000)  # 1 MB
    assert criteria and criteria[-1].dimension == "quality"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe- bad\n", "not UTF-8 text"), (b"- [unclosed\n", "not valid YAML"), (b"{}\n", "non-empty list")],
)
def test_bad_rubric_files(tmp_path, content, message):
    (tmp_path / "r.yaml").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_rubric(tmp_path / "r.yaml")


def test_path_traversal_in_skill_and_trace_names(tmp_path, store):
    from scrutiny.skills.library import Skill

    with pytest.raises(ValueError, match="not a safe skill name"):
        Skill(name="../../etc", kind="rubric", description="d", when_to_use="w")
    with pytest.raises(StoreError):
        store.trace("../../etc/passwd")


def test_stores_that_cannot_be_used_say_so_before_any_work(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(StoreError, match="cannot create the store folder.*SCRUTINY_HOME"):
        Store(home=tmp_path / "file" / "home")
    with pytest.raises(StoreError, match="names a database SQLAlchemy does not know"):
        Store(url="nonsense://x", home=tmp_path)
    with pytest.raises(StoreError, match=r"u:\*\*\*@"):  # a password never reaches a message
        Store(url="postgresql+nosuchdriver://u:secret@localhost/db", home=tmp_path)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_two_batches_on_one_results_file_the_second_refuses(tmp_path, store, monkeypatch):
    from typer.testing import CliRunner

    from scrutiny.batch import Item, OneWriter, load_results, run_batch
    from scrutiny.cli import app

    monkeypatch.setenv("SCRUTINY_HOME", str(store.home))
    fitted_sign("OPEN").save(tmp_path / "sign.png")
    out = tmp_path / "results.jsonl"
    holder = OneWriter(out)  # a batch running elsewhere on this file
    try:
        result = CliRunner().invoke(app, ["judge", str(tmp_path / "sign.png"), "-p", "OPEN", "--out", str(out)])
        assert (
            result.exit_code == 2
            and "another batch is writing" in result.output
            and f"pid {os.getpid()}" in result.output
        )
        assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    finally:
        holder.release()
    (tmp_path / "results.jsonl.lock").write_text("pid 1 on elsewhere, started long ago")  # left by a killed batch
    result = CliRunner().invoke(app, ["judge", str(tmp_path / "sign.png"), "-p", "OPEN", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(load_results(out)) == 1

    items = [Item(id=f"s{k}", image=fitted_sign(f"S{k}"), prompt=f'"S{k}"') for k in range(3)]
    judge = Judge(store=store, config=JudgeConfig(cache=False, concurrency=1))
    cut = tmp_path / "cut.jsonl"
    summary = run_batch(judge, items, cut, run_id="r", on_done=lambda: cut.unlink(missing_ok=True))
    assert summary.lost == 3 and summary.judged == 0  # the file lost its rows: none is claimed


def test_a_store_file_that_cannot_be_used_is_one_line(tmp_path):
    home = tmp_path / "garbage"
    home.mkdir()
    (home / "scrutiny.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as e:
        Store(home=home)
    assert "\n" not in str(e.value) and "not a database" in str(e.value) and "SCRUTINY_HOME" in str(e.value)

    # a read-only database (root writes files whatever their mode, so SQLite is told: query_only)
    from sqlalchemy import event

    store = Store(home=tmp_path / "readonly")
    event.listen(store.engine, "connect", lambda connection, _: connection.execute("PRAGMA query_only=ON"))
    store.engine.dispose()
    with pytest.raises(StoreError) as e:
        store.put_artifact(Image.new("RGB", (4, 4)))
    assert "\n" not in str(e.value) and "read-only" in str(e.value) and "writable" in str(e.value)


@pytest.fixture
def reward(store):
    from scrutiny.trainers.rewards import JudgeReward

    return JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit")))


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_every_reward_adapter_abstains_per_sample(reward):
    import asyncio

    from scrutiny.trainers.rewards import flow_grpo_reward, multi_score, trl_reward, verl_batch_reward

    sign = fitted_sign("OPEN")
    prompts = ['A sign that says "OPEN"'] * 3
    trl = trl_reward(reward)
    scores = asyncio.run(trl(prompts=prompts, completions=prompts, images=[[sign], None, []]))
    assert scores[0] > 0.9 and scores[1] is None and scores[2] is None  # no image: that sample abstains
    with pytest.raises(ValueError, match="give each sample an image"):  # no image anywhere: a setup error
        asyncio.run(trl(prompts=prompts, completions=prompts))

    torch = pytest.importorskip("torch")
    batch = torch.from_numpy(np.stack([np.asarray(sign)] * 3)).permute(0, 3, 1, 2).float() / 255
    batch[1] *= 3  # out of range
    batch[2, 0, 0, 0] = float("nan")
    out, _ = multi_score("cpu", {"scrutiny": 1.0}, extra={})(batch, prompts, [{}] * 3)
    assert out["scrutiny_abstained"].tolist() == [0.0, 1.0, 1.0] and out["scrutiny"][0] > 0.9
    scores, info = flow_grpo_reward(reward)([np.asarray(sign), None, "no/such/file.png"], prompts, [{}] * 3)
    assert np.isnan(info["raw"][1:]).all() and info["raw"][0] > 0.9 and "NoneType" in info["errors"][1]

    verl = verl_batch_reward(reward)
    with pytest.raises(ValueError, match=r"differ in length \(2 solution_strs, 1 ground_truths"):
        verl(solution_strs=prompts[:2], ground_truths=prompts[:1], extra_infos=[{"image": sign}] * 2)
    rows = verl(solution_strs=prompts[:2], ground_truths=prompts[:2], extra_infos=[{"image": sign}, {}])
    assert rows[0]["abstained"] == 0.0 and rows[1]["abstained"] == 1.0


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ('A sign that says "OPEN"\x00', "judged"),
        ('A sign\x07 that says "OP\x00EN"\x1b[31m', "judged"),
        ('A sign that says "OPEN" \ud800', "judged"),  # a lone surrogate no tokenizer takes
        ("\x00\x1b[0m\x07", "the prompt is empty (control characters aside)"),
    ],
)
@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_odd_text_in_a_prompt_is_cleaned_or_abstains_with_the_true_reason(reward, prompt, expected):
    (verdict,) = reward.judge.judge_many([fitted_sign("OPEN")], prompt)
    if expected == "judged":
        assert verdict.score is not None and verdict.score > 0.9, (verdict.error, verdict.critique)
        assert "\x00" not in verdict.task.prompt and "\ud800" not in verdict.task.prompt
    else:
        assert verdict.score is None and expected in verdict.error
