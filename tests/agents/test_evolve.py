"""Benchmarking against human preferences, and evolving the library to a team's standard."""

import asyncio
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from scrutiny import Judge, JudgeConfig
from scrutiny.agents.evolve import ModelProposer, WeightProposer, accuracy, evolve, fit_l1_logistic, split
from scrutiny.agreement import Preference, aexamples, cohen_kappa, load_preferences, metrics
from scrutiny.backends import OpenAIBackend
from scrutiny.cli import app
from scrutiny.skills.library import SkillLibrary
from scrutiny.testing.fake_server import FakeServer, Reply
from scrutiny.testing.scenes import RGB, fitted_sign, misspell

runner = CliRunner()
WORDS = [
    "FRESH BREAD",
    "OPEN LATE",
    "GOOD COFFEE",
    "BIG SALE",
    "NEW BOOKS",
    "HOT SOUP",
    "FREE WIFI",
    "CITY MAP",
    "ROSE SHOP",
    "BLUE MOON",
    "GOLD STAR",
    "TEA HOUSE",
]


def sign_and_square(text: str, color: str) -> Image.Image:
    image = Image.new("RGB", (512, 512), "white")
    image.paste(
        fitted_sign(
            text,
            size=(512, 256),
        ),
        (0, 0),
    )
    ImageDraw.Draw(image).rectangle((200, 330, 311, 441), fill=RGB[color])
    return image


def team_data(folder, n=12, seed=0):
    """A team that cares about text more than colour: a correct sign with the wrong colour beats a
    typo with the right colour; with the text equal, the right colour wins."""
    rng = np.random.default_rng(seed)
    lines = []
    for k, text in enumerate(WORDS[:n]):
        prompt = f'a sign that says "{text}" above a red square'
        right_text_wrong_color = sign_and_square(text, "blue")
        typo_right_color = sign_and_square(misspell(text, rng), "red")
        names = [f"{k}a.png", f"{k}b.png"]
        flip = k % 2
        images = [typo_right_color, right_text_wrong_color] if flip else [right_text_wrong_color, typo_right_color]
        for name, image in zip(names, images):
            image.save(folder / name)
        lines.append({"prompt": prompt, "images": names, "preferred": 1 if flip else 0})
        if k % 3 == 0:  # text equal: colour decides
            names = [f"{k}c.png", f"{k}d.png"]
            sign_and_square(text, "red").save(folder / names[0])
            sign_and_square(text, "green").save(folder / names[1])
            lines.append({"prompt": prompt, "images": names, "preferred": 0})
    path = folder / "prefs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return team_data(tmp_path_factory.mktemp("prefs"))


@pytest.fixture(scope="module")
def examples(data, tmp_path_factory):
    """The team's pairs judged once with the built-in library (evolution re-aggregates these scores)."""
    from scrutiny.memory import Store

    store = Store.memory(tmp_path_factory.mktemp("examples"))
    judge = Judge(store=store, library=SkillLibrary.builtin(), config=JudgeConfig(cache=False))
    yield asyncio.run(aexamples(judge, load_preferences(data)))
    store.close()


def test_metrics_by_hand():
    items = [
        Preference(prompt="p", images=["a", "b"], preferred=0),
        Preference(prompt="q", images=["a", "b"], preferred=1),
        Preference(prompt="r", images=["a", "b"]),
        Preference(prompt="s", images=["a", "b", "c"], ranking=[2, 0, 1]),
    ]
    scores = [[0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [0.2, 0.1, 0.8]]
    m = metrics(items, scores)
    # decided pairs: p right, q wrong, s: (0,1) right (0 over 1), (0,2) right, (1,2) right → 4 of 5
    assert m["pairs"] == 5 and m["pairwise_accuracy"] == pytest.approx(0.8)
    assert m["tie_agreement"] == 1.0 and m["group_accuracy"] == 1.0
    lo, hi = m["pairwise_accuracy_ci95"]
    assert 0.0 <= lo <= 0.8 <= hi <= 1.0
    assert cohen_kappa(["0", "1", "tie"], ["0", "1", "tie"]) == 1.0
    assert cohen_kappa(["0", "0", "1", "1"], ["0", "1", "0", "1"]) == 0.0


def test_preference_files_are_validated(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "images": ["a.png", "missing.png"], "preferred": 0}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: image 'missing.png' not found"):
        load_preferences(bad)
    bad.write_text('{"prompt": "p", "images": ["a.png", "a.png"], "preferred": 5}\n')
    with pytest.raises(ValueError, match="preferred must index images"):
        load_preferences(bad)


@pytest.mark.slow
def test_bench_cli_reports_and_keeps_the_run(data):
    import gc

    assert gc.get_freeze_count() == 0
    result = runner.invoke(app, ["bench", str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > 10_000  # the batch command froze the start-up objects (scrutiny.core.aio.freeze_gc)
    report = json.loads(result.stdout)
    m = report["metrics"]
    assert m["items"] == 16 and m["pairs"] == 16
    assert m["pairwise_accuracy"] < 0.5  # the default weights do not share this team's standard
    assert len(report["items"]) == 16 and report["items"][0]["trace_id"]
    from scrutiny.memory import Store

    assert json.loads(Store().run(report["run_id"]).metrics_json) == m


def test_l1_logistic_regression_finds_the_informative_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] * 3 + rng.normal(scale=0.3, size=200) > 0).astype(float)
    w = fit_l1_logistic(x, y, l1=0.02)
    assert w[0] > 1.0 and abs(w[1]) < 0.2 and abs(w[2]) < 0.2


@pytest.mark.slow
def test_evolution_raises_held_out_accuracy_and_rollback_restores_verdicts(data, examples, store):
    items = load_preferences(data)
    library = SkillLibrary.builtin()
    judge = Judge(store=store, library=library, config=JudgeConfig(cache=False))
    final = asyncio.run(evolve(library, examples, [WeightProposer()]))
    assert final["best"] >= final["baseline"] + 0.4  # a clear margin on held-out prompts
    evolved = SkillLibrary.from_json(final["library_json"])
    weights = evolved.skills["learned-weights"].params.weights
    assert weights["text"] > weights["color"]
    # the real judge with the evolved library agrees with the re-aggregated accuracy on validation
    _, val = split(examples)
    val_prompts = {e.prompt for e in val}
    held_out = [i for i in items if i.prompt in val_prompts]
    evolved_judge = Judge(store=store, library=evolved, config=JudgeConfig(cache=False))
    right = sum(
        asyncio.run(evolved_judge.acompare(i.images[0], i.images[1], i.prompt)).preferred == i.preferred
        for i in held_out
    )
    assert right / len(held_out) == pytest.approx(accuracy(val, evolved))
    # rollback: the original library gives exactly the original verdicts again
    item = items[0]
    before = judge.compare(item.images[0], item.images[1], item.prompt)
    after = Judge(
        store=store, library=SkillLibrary.from_json(library.to_json()), config=JudgeConfig(cache=False)
    ).compare(item.images[0], item.images[1], item.prompt)
    assert before.scores == after.scores and [c.weight for c in before.rubric] == [c.weight for c in after.rubric]


@pytest.mark.slow
def test_cli_evolve_then_rollback(data, tmp_path):
    result = runner.invoke(app, ["skills", "evolve", str(data), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["val_accuracy"] > summary["baseline_val_accuracy"] and summary["version"] != summary["parent"]
    assert any(h["kept"] for h in summary["history"])
    bench_after = json.loads(runner.invoke(app, ["bench", str(data), "--json"]).stdout)["metrics"]
    assert bench_after["pairwise_accuracy"] >= 0.9
    rolled = runner.invoke(app, ["skills", "rollback", summary["parent"]])
    assert rolled.exit_code == 0
    bench_back = json.loads(runner.invoke(app, ["bench", str(data), "--json"]).stdout)["metrics"]
    assert bench_back["pairwise_accuracy"] < 0.5  # the original verdicts again


@pytest.mark.slow
def test_evolution_resumes_from_its_saved_state(examples, tmp_path):
    library = SkillLibrary.builtin()
    state_path = tmp_path / "run.json"
    first = asyncio.run(evolve(library, examples, [WeightProposer()], rounds=1, state_path=state_path))
    saved = json.loads(state_path.read_text())["state"]
    assert saved["pruned"] and saved["library_json"] == first["library_json"]

    class Exploding:
        name = "exploding"

        async def propose(self, library, train):
            raise AssertionError("a finished run must not propose again")

    again = asyncio.run(evolve(library, examples, [Exploding()], rounds=1, state_path=state_path))
    assert again["library_json"] == first["library_json"] and again["history"] == first["history"]


@pytest.mark.slow
def test_model_proposer_through_the_backend(examples):
    library = SkillLibrary.builtin()
    server = FakeServer().start()
    try:
        server.push(
            Reply(
                content=json.dumps(
                    {
                        "name": "spelling-first",
                        "kind": "rubric",
                        "description": "Spelling outweighs colour.",
                        "when_to_use": "Always for this team.",
                        "body": "A typo loses to a wrong colour.",
                        "params": {"always": True, "weights": {"text": 6.0, "color": 0.5}},
                    }
                )
            )
        )
        proposer = ModelProposer(OpenAIBackend([server.url], "fake-vl"))
        final = asyncio.run(evolve(library, examples, [proposer]))
        prompt = server.requests[0]["messages"][0]["content"]
        assert "got these preference pairs wrong" in prompt and "text:" in prompt
        assert final["history"][0]["proposer"] == "model" and final["history"][0]["kept"]
        assert "spelling-first" in SkillLibrary.from_json(final["library_json"]).skills
        assert final["best"] > final["baseline"]
    finally:
        server.stop()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_threshold_tuning_learns_how_much_colour_counts(tmp_path, store):
    """A team for whom "red" means mostly red: the default presence share (2%) calls a speck of red
    fully red, so it cannot tell the pairs apart; tuning the threshold can."""
    from scrutiny.agents.evolve import ThresholdProposer

    lines = []
    for k, name in enumerate(["balloon", "kite", "umbrella", "scarf", "lantern", "bicycle", "teapot", "sofa"]):
        mostly = Image.new("RGB", (256, 256), "white")
        ImageDraw.Draw(mostly).rectangle((20 + k, 20, 220, 220), fill=RGB["red"])
        speck = Image.new("RGB", (256, 256), "white")  # as colourful, but blue with a speck of red
        ImageDraw.Draw(speck).rectangle((20 + k, 20, 220, 220), fill=RGB["blue"])
        ImageDraw.Draw(speck).rectangle((100 + k, 100, 140, 140), fill=RGB["red"])  # 2.5%: "present" by default
        names = [f"{k}m.png", f"{k}s.png"][:: 1 if k % 2 else -1]
        for n, image in zip([f"{k}m.png", f"{k}s.png"], (mostly, speck)):
            image.save(tmp_path / n)
        # the colour of the whole picture ("a red kite" is the kite's colour, which needs a detector)
        lines.append({"prompt": f"a {name} picture in red", "images": names, "preferred": names.index(f"{k}m.png")})
    (tmp_path / "red.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    items = load_preferences(tmp_path / "red.jsonl")
    library = SkillLibrary.builtin()
    examples = asyncio.run(aexamples(Judge(store=store, library=library), items))
    assert all(e.measures[0] for e in examples)  # the colour shares were kept for re-scoring
    final = asyncio.run(evolve(library, examples, [ThresholdProposer()]))
    assert final["baseline"] < 1.0 and final["best"] == 1.0
    tuned = SkillLibrary.from_json(final["library_json"]).skills["learned-thresholds"].params.thresholds
    assert tuned.presence_share > 0.02
    # judging again with the tuned library gives the same answers the re-scoring predicted
    verdict = Judge(
        store=store, library=SkillLibrary.from_json(final["library_json"]), config=JudgeConfig(cache=False)
    ).compare(items[0].images[0], items[0].images[1], items[0].prompt)
    assert verdict.preferred == items[0].preferred


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_edits_are_kept_only_on_a_strict_gain_and_never_switch_a_guard_off(examples):
    from scrutiny.agents.evolve import Proposal
    from scrutiny.skills.library import Skill

    def skill(name, weights):
        return Skill(
            name=name, kind="rubric", description="d", when_to_use="w", params={"always": True, "weights": weights}
        )

    class Fixed:
        name = "fixed"

        def __init__(self, *skills):
            self.skills = skills

        async def propose(self, library, train):
            return [Proposal(library.with_skill(s), s.name, self.name) for s in self.skills]

    library = SkillLibrary.builtin()
    # a no-op edit ties the parent; switching quality off must be refused even if it looked as good
    final = asyncio.run(
        evolve(library, examples, [Fixed(skill("noop", {"custom": 1.0}), skill("blind", {"quality": 0.0}))])
    )
    by_edit = {h["edit"]: h for h in final["history"] if h["proposer"] == "fixed"}
    assert not by_edit["noop"]["kept"] and not by_edit["blind"]["kept"]
    assert by_edit["blind"]["refused"] == "sets the weight of quality to 0"
    assert set(SkillLibrary.from_json(final["library_json"]).skills) == set(library.skills)
