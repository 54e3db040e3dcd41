import json

import pytest
from typer.testing import CliRunner

from scrutiny import Judge
from scrutiny.agents.refine_graph import OfflineReviser, restate
from scrutiny.core.schema import Criterion
from scrutiny.refinement import refine
from scrutiny.testing.scenes import ToyGenerator, fitted_sign, storefront

SIGN = 'The words "GRAND OPENING"'


@pytest.fixture
def judge(store):
    return Judge(store=store)


@pytest.mark.slow
def test_loop_raises_the_score_round_by_round_and_stops_when_all_met(judge):
    result = refine(SIGN, ToyGenerator(), n=2, rounds=5, judge=judge)
    scores = [r.best_score for r in result.rounds]
    assert len(scores) == 3 and scores[0] < scores[1] < scores[2]
    assert result.stop_reason == "every checkable criterion is met"
    assert result.best_round == 2 and result.best_score == scores[2]
    assert (
        result.rounds[1].prompt.count("must read exactly") == 1
        and result.rounds[2].prompt.count("must read exactly") == 2
    )
    assert all(v.task.prompt == SIGN for r in result.rounds for v in r.verdicts)  # judged against the intent


@pytest.mark.slow
def test_round_budget_and_best_of_n(judge):
    result = refine(SIGN, ToyGenerator(), n=3, rounds=2, judge=judge)
    assert len(result.rounds) == 2 and result.stop_reason == "round budget spent (2 rounds)"
    best_of_n = refine(SIGN, ToyGenerator(), n=3, rounds=1, judge=judge)
    assert len(best_of_n.rounds) == 1 and best_of_n.best_score == max(v.score for v in best_of_n.rounds[0].verdicts)


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_threshold_stops_early(judge):
    result = refine(SIGN, ToyGenerator(), n=2, rounds=5, threshold=0.85, judge=judge)
    assert len(result.rounds) == 2 and result.stop_reason.startswith("score ")


def test_time_budget(judge):
    result = refine(SIGN, ToyGenerator(), n=1, rounds=5, time_budget_s=0.0, judge=judge)
    assert len(result.rounds) == 1 and result.stop_reason == "time budget spent (0 s)"


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_worse_revision_is_rejected_and_the_best_kept(judge):
    calls = []

    def regresses(prompt, seed):
        calls.append(prompt)  # good first, then worse whatever the prompt says
        return fitted_sign("GRAND OPENNG" if len(calls) == 1 else "GRNAD OPNEIG")

    class Rewrite(OfflineReviser):
        async def revise(self, original, accepted, verdict):
            return accepted + " Again."

    result = refine(SIGN, regresses, n=1, rounds=3, judge=judge, reviser=Rewrite())
    assert [r.accepted for r in result.rounds] == [True, False, False]
    assert result.best_round == 0 and result.best_score == result.rounds[0].best_score
    assert result.rounds[2].prompt == SIGN + " Again."  # revised from the accepted prompt, not the rejected one


@pytest.mark.slow
def test_never_returns_worse_than_the_first_round(judge):
    result = refine(SIGN, ToyGenerator(), n=2, rounds=3, judge=judge)
    assert result.best_score >= result.rounds[0].best_score


def test_nothing_to_restate_stops(judge):
    class Silent(OfflineReviser):
        async def revise(self, original, accepted, verdict):
            return accepted

    result = refine(SIGN, ToyGenerator(), n=1, rounds=3, judge=judge, reviser=Silent())
    assert len(result.rounds) == 1 and result.stop_reason.startswith("no revision left")


def test_all_abstaining_is_a_clear_error(judge):
    rubric = [Criterion(id="c", statement="The cat looks happy", checkable=False)]
    with pytest.raises(ValueError, match="every verdict abstained"):
        refine("a happy cat", lambda p, s: storefront("CAT", size=128), n=1, rounds=3, judge=judge, rubric=rubric)


def test_restatements():
    text = Criterion(id="t", statement="s", dimension="text", params={"text": "HI"})
    count = Criterion(
        id="c", statement="s", dimension="count", params={"count": 3, "object": "circle", "phrase": "red circles"}
    )
    style = Criterion(id="s", statement="s", dimension="custom", params={"style": "ink"})
    assert restate(text) == 'The text must read exactly "HI", letter by letter.'
    assert restate(count) == "Show exactly 3 red circles, no more and no fewer."
    assert restate(style) is None


@pytest.mark.slow
def test_cli_refine(tmp_path):
    from scrutiny.cli import app

    out = tmp_path / "best.png"
    result = CliRunner().invoke(
        app,
        ["refine", "-p", SIGN, "-g", "scrutiny.testing.scenes:ToyGenerator", "--n", "2", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "every checkable criterion is met" and out.is_file()
    assert [r["best_score"] for r in summary["rounds"]] == sorted(r["best_score"] for r in summary["rounds"])
    bad = CliRunner().invoke(app, ["refine", "-p", SIGN, "-g", "no_colon_here"])
    assert bad.exit_code == 2 and "module:function" in bad.stderr


def test_model_reviser_rewrites_from_the_critique(judge):
    from scrutiny.agents.refine_graph import ModelReviser
    from scrutiny.backends import OpenAIBackend
    from scrutiny.testing.fake_server import FakeServer, Reply

    server = FakeServer().start()
    try:
        rewritten = SIGN + ' The text must read exactly "GRAND OPENING". The text must read exactly "GRAND OPENING".'
        server.push(Reply(content=json.dumps({"prompt": rewritten})), Reply(content="not json"))
        reviser = ModelReviser(OpenAIBackend([server.url], "fake-vl"))
        result = refine(SIGN, ToyGenerator(), n=1, rounds=3, judge=judge, reviser=reviser)
        sent = server.requests[0]["messages"][0]["content"]
        assert "OCR read" in sent and "GRAND OPENING" in sent  # grounded in what the judge saw
        assert result.rounds[1].prompt == rewritten and result.best_score > result.rounds[0].best_score
        assert result.stop_reason == "every checkable criterion is met"
    finally:
        server.stop()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_refine_run_is_recorded_and_its_traces_carry_the_round(judge):
    result = refine(SIGN, ToyGenerator(), n=2, rounds=2, judge=judge, run_id="refine-test")
    run = judge.store.run("refine-test")
    assert run.kind == "refine" and run.status == "done"
    assert json.loads(run.counts_json)["rounds"] == len(result.rounds) == 2
    assert [judge.store.count_traces(run_id="refine-test", step=k) for k in (0, 1)] == [2, 2]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_generator_from_a_file_or_the_current_folder(tmp_path, monkeypatch):
    from scrutiny.cli import app

    (tmp_path / "mygen.py").write_text(
        "from scrutiny.testing.scenes import fitted_sign\n\ndef make(prompt, seed):\n    return fitted_sign('GRAND OPENING')\n"
    )
    monkeypatch.chdir(tmp_path)
    for spec in ("./mygen.py:make", "mygen:make", str(tmp_path / "mygen.py") + ":make"):
        result = CliRunner().invoke(app, ["refine", "-p", SIGN, "-g", spec, "--n", "1", "--rounds", "1", "--json"])
        assert result.exit_code == 0, (spec, result.output)
        assert json.loads(result.stdout)["best_score"] > 0.5
    missing = CliRunner().invoke(app, ["refine", "-p", SIGN, "-g", "./nope.py:make"])
    assert missing.exit_code == 2 and "no file" in missing.output


def test_the_stop_reason_counts_what_was_not_checked(store):
    from scrutiny import JudgeConfig
    from scrutiny.agents.refine_graph import RefineDeps, stop_reason

    judge = Judge(store=store, config=JudgeConfig(cache=False))
    storefront_sign = judge.judge(storefront("OPEN"), 'A storefront sign that says "OPEN"')
    assert storefront_sign.coverage[0].unchecked  # the storefront and the sign: no tool here sees them
    said = stop_reason(storefront_sign, 1, RefineDeps(generator=None, judge=judge, reviser=OfflineReviser()))
    assert said.startswith("every checked criterion is met;") and f"{storefront_sign.score:.2f}" in said


@pytest.mark.slow  # a judgment: over 1 s
def test_the_offline_reviser_stresses_a_missed_detail_once_and_never_repeats_a_sentence(judge):
    import asyncio

    verdict = judge.judge(fitted_sign("GRNAD OPENIGN"), SIGN)
    reviser, prompts = OfflineReviser(), [SIGN]
    for _ in range(3):
        prompts.append(asyncio.run(reviser.revise(SIGN, prompts[-1], verdict)))
    first, second, third = (p.removeprefix(SIGN).strip() for p in prompts[1:])
    assert first.startswith("The") and "must read exactly" in first
    assert second == f"{first} Above all, t{first[1:]}"  # stressed once, in other words
    assert third == second  # nothing new left to say: the loop stops there
    sentences = [s.strip() for s in second.split(".") if s.strip()]
    assert len(sentences) == len(set(sentences))
