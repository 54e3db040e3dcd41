import dataclasses
import json

import pytest
from typer.testing import CliRunner

import scrutiny.cli
from scrutiny.cli import app
from scrutiny.testing.scenes import fitted_sign, grid, preference_pairs, shapes

runner = CliRunner()
SIGN = 'The words "OPEN 24 HOURS"'


@pytest.fixture
def images(tmp_path):
    paths = {}
    for name, image in {
        "right": fitted_sign("OPEN 24 HOURS"),
        "typo": fitted_sign("OPNE 24 HOURS"),
        "one": shapes(grid(1, "circle", "red")),
        "two": shapes(grid(2, "circle", "red")),
        "three": shapes(grid(3, "circle", "red")),
    }.items():
        paths[name] = tmp_path / f"{name}.png"
        image.save(paths[name])
    pair = preference_pairs("edit", 1, seed=1)[0]
    for name, image in {"source": pair.source, "faithful": pair.better, "sloppy": pair.worse}.items():
        paths[name] = tmp_path / f"{name}.png"
        image.save(paths[name])
    return paths


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_judge_prints_scores_critique_and_trace(images):
    result = run("judge", images["typo"], "--prompt", SIGN)
    assert result.exit_code == 0, result.output
    assert 'OCR read "OPNE 24 HOURS", expected "OPEN 24 HOURS"' in result.output
    assert "trace " in result.output


def test_judge_json(images):
    result = run("judge", images["right"], "-p", SIGN, "--json")
    verdict = json.loads(result.stdout)
    assert verdict["scores"][0] > 0.9 and verdict["trace_id"] and verdict["evidence"]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_compare_rank_and_edit(images):
    compare = json.loads(run("compare", images["typo"], images["right"], "-p", SIGN, "--json").stdout)
    assert compare["preferred"] == 1
    rank = json.loads(
        run("rank", images["one"], images["three"], images["two"], "-p", "three red circles", "--json").stdout
    )
    assert rank["ranking"][0] == 1
    edit = run(
        "edit",
        images["sloppy"],
        images["faithful"],
        "--source",
        images["source"],
        "--instruction",
        "Add a red square",
        "--json",
    )
    assert json.loads(edit.stdout)["preferred"] == 1


def test_rubric_file_overrides_synthesis(images, tmp_path):
    rubric = tmp_path / "rubric.json"
    rubric.write_text(
        json.dumps([{"statement": "Says HOURS", "dimension": "text", "params": {"text": "OPNE 24 HOURS"}}])
    )
    verdict = json.loads(run("judge", images["typo"], "-p", SIGN, "--rubric", rubric, "--json").stdout)
    assert [c["id"] for c in verdict["rubric"]] == ["given_1", "degenerate"] and verdict["scores"] == [1.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["judge", "missing.png", "-p", "x"], "missing.png: no such file"),
        (["judge", "{typo}", "-p", " "], "the prompt is empty"),
        (["judge", "{typo}", "-p", "x", "--rubric", "nope.yaml"], "rubric file nope.yaml does not exist"),
        (["rank", "{one}", "-p", "x"], "rank needs at least two images"),
        (["traces", "show", "ffffff"], "no trace with id 'ffffff'"),
        (["judge", "{typo}", "-p", "x", "--backend", "http://127.0.0.1:9", "--model", "m"], "connection refused"),
        (["judge", "{typo}", "-p", "x", "--backend", "notaurl", "--model", "m"], "is not a server URL"),
        (["traces", "list", "--page", "5"], "there is no page 5"),
    ],
)
@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_errors_are_one_line_and_a_nonzero_exit(images, args, message, monkeypatch):
    backend = scrutiny.cli.common.make_backend
    # the unreachable server is retried as a real one would be, without the real backoff
    monkeypatch.setattr(scrutiny.cli.common, "make_backend", lambda *a: dataclasses.replace(backend(*a), backoff_s=0.0))
    result = run(*[a.format(**{k: str(v) for k, v in images.items()}) for a in args])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_not_an_image_is_one_line(tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("hello")
    result = run("judge", bogus, "-p", "x")
    assert result.exit_code == 2 and "not an image file" in result.stderr


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_traces_list_and_show(images):
    verdict = json.loads(run("judge", images["typo"], "-p", SIGN, "--json").stdout)
    listed = json.loads(run("traces", "list", "--json").stdout)["traces"]
    assert listed[0]["id"] == verdict["trace_id"] and listed[0]["scores"] == verdict["scores"]
    shown = run("traces", "show", verdict["trace_id"][:8])
    assert shown.exit_code == 0
    for part in (
        "rubric",
        "evidence",
        "ocr(image=candidate_0)",
        "zoom(",
        "candidate 0",
        "critique",
        "OPNE 24 HOURS",
        "coverage: 2 of 2 content criteria checked",
    ):
        assert part in shown.stdout
    as_json = json.loads(run("traces", "show", verdict["trace_id"], "--json").stdout)
    assert as_json["verdict"]["id"] == verdict["id"] and as_json["trace"]["events"]
    table = run("traces", "list", "--prompt", "OPEN 24")
    assert verdict["trace_id"][:12] in table.stdout


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_help_and_messages_read_as_english(images, tmp_path):
    assert "<bool>" not in run("judge", "--help").output  # a flag has no type
    assert "[grpo], [model] and [reward]" in run("train", "--help").output  # brackets are not markup
    replay_help = run("traces", "replay", "--help").output
    assert "history" in replay_help and "--versions" not in replay_help
    verdict = json.loads(run("judge", images["one"], "-p", "two red circles", "--json").stdout)
    assert any("found 1 red circle," in s["rationale"] for s in verdict["criterion_scores"])  # not "1 red circles"
    run("judge", images["typo"], "-p", SIGN)
    run("traces", "export", "--out", tmp_path / "t.jsonl")
    again = run("traces", "import", tmp_path / "t.jsonl")
    assert "nothing new" in again.output and "2 traces" in again.output
    assert "no differences" in run("skills", "diff", "builtin").output
