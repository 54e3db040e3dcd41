"""Trace inspection from the command line, on a store filled by real offline judgments."""

import json

import pytest
from typer.testing import CliRunner

from scrutiny import Criterion, Judge
from scrutiny.cli import app
from scrutiny.memory import Store
from scrutiny.testing.scenes import fitted_sign, grid, preference_pairs, shapes, storefront

runner = CliRunner()
SIGN = 'The words "OPEN 24 HOURS"'


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture
def filled():
    """The default store (SCRUTINY_HOME is per test) with a few real judgments."""
    store = Store()
    judge = Judge(store=store)
    verdicts = {
        "right": judge.judge(fitted_sign("OPEN 24 HOURS"), SIGN),
        "typo": judge.judge(fitted_sign("OPNE 24 HOURS"), SIGN),
        "count": judge.compare(shapes(grid(3, "circle", "red")), shapes(grid(2, "circle", "red")), "three red circles"),
        "abstain": judge.judge(
            storefront("HELLO"),  # a scene: a sign on a blank page would fail the gate, not abstain
            "a happy cat",
            rubric=[Criterion(id="c", statement="The cat looks happy", checkable=False)],
        ),
    }
    pair = preference_pairs("edit", 1, seed=4)[0]
    verdicts["edit"] = judge.edit(pair.source, [pair.better, pair.worse], pair.prompt)
    return store, verdicts


def listed(*args):
    result = run("traces", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_list_filters_and_pages(filled):
    store, v = filled
    everything = listed()
    assert everything["total"] == 5 and everything["traces"][0]["id"] == v["edit"].trace_id
    assert {t["id"] for t in listed("--prompt", "OPEN 24")["traces"]} == {v["right"].trace_id, v["typo"].trace_id}
    assert [t["id"] for t in listed("--min-score", "0.95", "--prompt", "OPEN")["traces"]] == [v["right"].trace_id]
    assert [t["id"] for t in listed("--max-score", "0.9", "--prompt", "OPEN")["traces"]] == [v["typo"].trace_id]
    assert [t["id"] for t in listed("--abstained")["traces"]] == [v["abstain"].trace_id]
    assert listed("--decided")["total"] == 4
    assert listed("--policy", "offline")["total"] == 5 and listed("--policy", "model")["total"] == 0
    assert listed("--since", "1h")["total"] == 5 and listed("--until", "2000-01-01")["total"] == 0
    library = everything["traces"][0]["library_version"]
    assert library and listed("--library", library)["total"] == 5 and listed("--library", "0ther")["total"] == 0
    pages = [listed("--limit", "2", "--page", str(p))["traces"] for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({t["id"] for p in pages for t in p}) == 5
    bad = run("traces", "list", "--since", "soon")
    assert bad.exit_code == 2 and "cannot read 'soon' as a time" in bad.stderr


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_show_walks_task_rubric_evidence_scores_critique(filled):
    _, v = filled
    result = run("traces", "show", v["typo"].trace_id[:10])
    text = result.stdout
    positions = [text.index(part) for part in ("rubric", "evidence", "candidate 0", "critique")]
    assert positions == sorted(positions) and 'OCR read "OPNE 24 HOURS"' in text


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_diff_of_two_verdicts_of_one_task(filled):
    _, v = filled
    # the same task judged again with a different rubric: a second verdict to compare with
    other = Judge(store=Store()).judge(
        fitted_sign("OPNE 24 HOURS"),
        SIGN,
        rubric=[
            Criterion(
                id="x",
                statement='The image shows the text "OPEN 24 HOURS", spelled exactly',
                dimension="text",
                params={"text": "OPNE 24 HOURS"},
            )
        ],
    )
    diff = json.loads(run("traces", "diff", v["typo"].trace_id, other.id, "--json").stdout)
    assert not diff["identical"] and diff["only_a"] == [
        "The image shows no text besides the requested",
        "The image is sharp, well exposed and free of noise and compression artefacts",
    ]
    row, gate = diff["criteria"]  # the text, and the degenerate-image gate both verdicts carry
    assert row["a"] < row["b"] == 1.0 and row["delta"] > 0 and gate["a"] == gate["b"] == 1.0
    table = run("traces", "diff", v["typo"].trace_id, other.id)
    assert "only in A" in table.stdout and "different" in table.stdout
    mismatch = run("traces", "diff", v["typo"].trace_id, v["count"].trace_id)
    assert mismatch.exit_code == 2 and "different tasks" in mismatch.stderr


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_replay_reproduces_an_offline_verdict_exactly(filled):
    _, v = filled
    for key in ("typo", "count", "edit", "abstain"):
        diff = json.loads(run("traces", "replay", v[key].trace_id, "--json").stdout)
        assert diff["identical"], key
        assert diff["a"]["scores"] == diff["b"]["scores"] and diff["a"]["id"] != diff["b"]["id"]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_replay_with_another_budget_differs(filled):
    _, v = filled
    diff = json.loads(run("traces", "replay", v["typo"].trace_id, "--max-steps", "1", "--json").stdout)
    assert diff["a"]["scores"] == diff["b"]["scores"]  # the zoom confirmed the first read: same score
    (text,) = [r for r in diff["criteria"] if r["criterion"] == "text_1"]
    assert "after zooming" not in text["rationale_b"]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_export_import_round_trip(filled, tmp_path, monkeypatch):
    store, v = filled
    path = tmp_path / "traces.jsonl"
    assert run("traces", "export", "--out", path).exit_code == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["artifacts"] for line in lines)
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "elsewhere"))
    result = run("traces", "import", path)
    assert result.exit_code == 0 and "imported 5 traces" in result.stderr
    fresh = Store()
    assert fresh.count_traces() == 5
    for verdict in v.values():
        trace = fresh.trace(verdict.trace_id)
        assert trace.verdict_id == verdict.id and fresh.verdict(verdict.id).scores == verdict.scores
        for digest in trace.task.candidates:
            assert fresh.artifact(digest).size == store.artifact(digest).size
    replayed = json.loads(run("traces", "replay", v["edit"].trace_id, "--json").stdout)  # works from the import alone
    assert replayed["identical"]
    (tmp_path / "bad.jsonl").write_text('{"format": "other"}\n')
    bad = run("traces", "import", tmp_path / "bad.jsonl")
    assert bad.exit_code == 2 and "not a scrutiny trace export" in bad.stderr
