"""`scrutiny judge` over a dataset: inputs of every kind, bad rows, resuming, filtering, runs, export."""

import json
import os

import pytest
from typer.testing import CliRunner

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.batch import Item, load_results, read_items, run_batch
from scrutiny.cli import app
from scrutiny.testing.scenes import fitted_sign, grid, preference_pairs, shapes

runner = CliRunner()
SIGN = 'A sign that says "OPEN NOW"'


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    fitted_sign("OPEN NOW").save(folder / "right.png")
    fitted_sign("OPNE NOW").save(folder / "typo.png")
    (folder / "broken.png").write_bytes(b"not an image")
    shapes(grid(3, "circle", "red")).save(tmp_path / "circles.png")
    pair = preference_pairs("edit", 1, seed=1)[0]
    pair.source.save(tmp_path / "source.png")
    pair.better.save(tmp_path / "edited.png")
    rows = [
        {"id": "circles", "image": "circles.png", "prompt": "three red circles"},
        {"id": "edit", "image": "edited.png", "source": "source.png", "prompt": "Add a green square"},
        {"id": "missing", "image": "nowhere.png", "prompt": "a cat"},
        {"id": "empty", "image": "circles.png", "prompt": "  "},
    ]
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    return tmp_path


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_folder_and_a_manifest_become_one_results_file_and_bad_rows_are_rows(data):
    out = data / "results.jsonl"
    result = run("judge", data / "shots", data / "items.jsonl", "-p", SIGN, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    rows = {r["id"]: r for r in load_results(out)}
    assert len(rows) == 8 and summary["total"] == 8 and summary["judged"] == 8
    assert rows[str(data / "shots" / "right.png")]["score"] > rows[str(data / "shots" / "typo.png")]["score"]
    assert rows["circles"]["score"] > 0.9 and rows["circles"]["criteria"]["There are exactly 3 red circles"] == 1.0
    assert rows["edit"]["source"].endswith("source.png") and rows["edit"]["score"] is not None
    assert rows["missing"]["error"].startswith("ImageError") and rows["missing"]["score"] is None
    assert "empty prompt" in rows["empty"]["error"] and "not JSON" in rows["items.jsonl:5"]["error"]
    assert "not an image" in rows[str(data / "shots" / "broken.png")]["error"]
    assert summary["errors"] == 4 and summary["abstentions"] == {"ImageError": 2, "bad row": 2}
    judged = rows["circles"]
    assert judged["trace_id"] and judged["verdict_id"] and judged["checked"] >= 1 and judged["run_id"] == summary["run"]


def test_the_summary_shows_a_histogram_and_abstentions_by_reason(data):
    result = run("judge", data / "items.jsonl", "--out", data / "r.jsonl")
    assert result.exit_code == 0, result.output
    assert "scores (mean" in result.stdout and "0.9-1.0 #" in result.stdout
    assert "no score, bad row: 2" in result.stdout and "no score, ImageError: 1" in result.stdout


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_rerun_resumes_an_interrupted_batch_and_judges_error_rows_again(data, monkeypatch):
    out = data / "results.jsonl"
    assert run("judge", data / "shots", "-p", SIGN, "--out", out).exit_code == 0
    first = out.read_text().splitlines()
    kept = [line for line in first if '"error": null' in line][:1]  # a crash after one row ...
    out.write_text("\n".join(kept) + '\n{"id": "cut sh')  # ... in the middle of writing the next
    result = run("judge", data / "shots", "-p", SIGN, "--out", out, "--json")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == 1 and summary["judged"] == 2
    rows = load_results(out)
    assert sorted(r["id"] for r in rows) == sorted(json.loads(line)["id"] for line in first)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 3  # each item once; the cut line is gone
    assert summary["run"] == json.loads(kept[0])["run_id"]  # the rerun continues the same run


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_min_score_writes_the_passing_items_as_a_manifest(data):
    out = data / "results.jsonl"
    result = run("judge", data / "shots", "-p", SIGN, "--out", out, "--min-score", "0.5")
    assert result.exit_code == 0, result.output
    passing = [json.loads(line) for line in (data / "results.passing.jsonl").read_text().splitlines()]
    assert [p["id"] for p in passing] == [str(data / "shots" / "right.png")] and passing[0]["score"] >= 0.5
    again = run("judge", data / "results.passing.jsonl", "--out", data / "again.jsonl", "--json")  # judge them again
    assert json.loads(again.stdout.strip().splitlines()[-1])["judged"] == 1


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_parquet_in_and_out_csv_and_a_saved_dataset(data):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    pq.write_table(pa.Table.from_pylist([{"image": "circles.png", "prompt": "three red circles"}]), data / "m.parquet")
    (data / "m.csv").write_text("file_name,text\ncircles.png,three red circles\n")
    ds = datasets.Dataset.from_dict(
        {"image": [fitted_sign("OPEN NOW"), fitted_sign("OPNE NOW")], "prompt": [SIGN, SIGN], "id": ["a", "b"]},
        features=datasets.Features(
            {"image": datasets.Image(), "prompt": datasets.Value("string"), "id": datasets.Value("string")}
        ),
    )
    ds.save_to_disk(str(data / "ds"))
    out = data / "results.parquet"
    result = run("judge", data / "m.parquet", data / "m.csv", data / "ds", "--out", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pylist()
    by_id = {r["id"]: r for r in table}
    assert len(table) == 4 and by_id["a"]["score"] > by_id["b"]["score"]
    circles = str(data / "circles.png")  # a row without an id is known by its image (the second one: #2)
    assert json.loads(by_id[circles]["criteria"])["There are exactly 3 red circles"] == 1.0
    assert by_id[circles + "#2"]["score"] == by_id[circles]["score"]
    assert not (data / "results.parquet.jsonl").exists()  # the log is folded into the Parquet file


def test_bad_batch_options_are_one_line_errors(data):
    assert "has no prompt" in run("judge", data / "shots", "--out", data / "r.jsonl").output
    assert "must end in .jsonl or .parquet" in run("judge", data / "shots", "-p", "x", "--out", data / "r.txt").output
    assert "between 0 and 1" in run("judge", data / "shots", "-p", "x", "--min-score", "7").output
    result = run("judge", data / "shots" / "right.png")
    assert result.exit_code == 2 and "--prompt" in result.output


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_runs_are_recorded_and_their_traces_found(data, monkeypatch):
    out = data / "results.jsonl"
    args = ["judge", str(data / "shots"), "-p", SIGN, "--out", str(out), "--json"]
    monkeypatch.setattr("sys.argv", ["scrutiny", *args])  # what a shell would have given the command
    summary = json.loads(run(*args).stdout.splitlines()[-1])
    listed = json.loads(run("runs", "list", "--json").stdout)
    assert listed[0]["id"] == summary["run"] and listed[0]["status"] == "done" and listed[0]["kind"] == "judge"
    assert listed[0]["counts"]["judged"] == 3 and listed[0]["command"].startswith("scrutiny judge ")
    shown = json.loads(run("runs", "show", summary["run"][:12], "--json").stdout)
    assert shown["traces"] == 3 and shown["finished_at"] and shown["config"]["out"] == str(out)
    traces = json.loads(run("traces", "list", "--run", summary["run"], "--json").stdout)
    assert traces["total"] == 3 and sorted(t["step"] for t in traces["traces"]) == [0, 1, 2]
    one = json.loads(run("traces", "list", "--run", summary["run"], "--step", "1", "--json").stdout)
    assert one["total"] == 1
    assert "no run with id" in run("runs", "show", "nope-nope").output


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_export_streams_every_trace_or_says_how_many_were_left_out(data):
    run("judge", data / "shots", "-p", SIGN, "--out", data / "r.jsonl")
    everything = run("traces", "export", "--out", data / "all.jsonl")
    assert len((data / "all.jsonl").read_text().splitlines()) == 3 and "exported 3 traces" in everything.output
    capped = run("traces", "export", "--limit", "2", "--out", data / "two.jsonl")
    assert "exported 2 traces" in capped.output and "1 more match" in capped.output


def test_version():
    from scrutiny import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"scrutiny {__version__}"


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_batch_cancelled_midway_keeps_what_it_finished(tmp_path, store):
    import asyncio

    from scrutiny.batch import arun_batch

    items = [Item(id=f"s{k}", image=fitted_sign(f"SIGN {k}"), prompt=f'A sign that says "SIGN {k}"') for k in range(6)]
    judge = Judge(store=store, config=JudgeConfig(cache=False, concurrency=1))
    out = tmp_path / "r.jsonl"
    done = []

    async def cancelled() -> None:
        task = asyncio.ensure_future(arun_batch(judge, items, out, run_id="r1", on_done=lambda: done.append(1)))
        while len(done) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    kept = load_results(out)
    assert 2 <= len(kept) < 6
    summary = run_batch(judge, items, out, run_id="r1")
    assert summary.skipped == len(kept) and summary.judged == 6 - len(kept)
    assert sorted(r["id"] for r in load_results(out)) == [f"s{k}" for k in range(6)]


def test_reading_inputs_gives_unique_ids_and_a_clear_error_without_inputs(data):
    items = read_items([str(data / "circles.png"), str(data / "circles.png")], "three red circles")
    assert [i.id for i in items] == [str(data / "circles.png"), str(data / "circles.png") + "#2"]
    with pytest.raises(ValueError, match="nothing to judge"):
        read_items([], None)
    with pytest.raises(ValueError, match="no images found"):
        read_items([str(data / "*.webp")], "x")


# Ray: a pool of judge actors on this machine


@pytest.fixture
def ray_local():
    """Ray, started by `judge_on_ray` itself (so its workers get the test's SCRUTINY_HOME) and shut down after."""
    ray = pytest.importorskip("ray")
    yield ray
    if ray.is_initialized():
        ray.shutdown()


def _signs(tmp_path, n: int) -> list[Item]:
    items = []
    for k in range(n):
        path = tmp_path / f"sign{k}.png"
        fitted_sign(f"OPEN {k}" if k % 3 else f"OPNE {k}").save(path)
        items.append(Item(id=f"sign{k}", image=str(path), prompt=f'A sign that says "OPEN {k}"'))
    return items


@pytest.mark.slow
def test_ray_gives_the_same_verdicts_as_one_process(tmp_path, ray_local, monkeypatch):
    from scrutiny.distributed import JudgeSpec, judge_on_ray

    items = _signs(tmp_path, 8) + [Item(id="gone", image=str(tmp_path / "gone.png"), prompt="a cat")]
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "one"))
    single = run_batch(Judge(store=Store()), items, tmp_path / "one.jsonl", run_id="one")
    spec = JudgeSpec(config={"cache": True})
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "many"))  # the actors get this store, not the first one
    spread = judge_on_ray(spec, items, tmp_path / "many.jsonl", run_id="many", address="local", workers=2, batch_size=2)
    assert single.judged == spread.judged == 9
    one = {r["id"]: r for r in load_results(tmp_path / "one.jsonl")}
    many = {r["id"]: r for r in load_results(tmp_path / "many.jsonl")}
    assert {k: r["score"] for k, r in one.items()} == {k: r["score"] for k, r in many.items()}
    assert {k: r["criteria"] for k, r in one.items()} == {k: r["criteria"] for k, r in many.items()}
    assert many["gone"]["error"].startswith("ImageError")
    stored = Store(home=tmp_path / "many")
    assert stored.count_traces(run_id="many") == 9  # the workers stored their traces in the shared store


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, ray_local, monkeypatch):
    import signal

    from scrutiny.distributed import JudgeSpec, judge_on_ray
    from scrutiny.memory.tables import VerdictRow

    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "home"))
    items = _signs(tmp_path, 16)
    killed = []

    def kill_once(row, worker):
        if not killed:
            killed.append(worker)
            os.kill(worker, signal.SIGKILL)

    spec = JudgeSpec(config={"cache": True, "concurrency": 1})
    summary = judge_on_ray(spec, items, tmp_path / "r.jsonl", run_id="k", workers=2, batch_size=2, on_row=kill_once)
    assert killed and summary.judged == 16
    ids = [json.loads(line)["id"] for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(i.id for i in items)  # every item once
    rows = load_results(tmp_path / "r.jsonl")
    assert all(r["error"] is None and r["score"] is not None for r in rows)
    assert Store(home=tmp_path / "home").count(VerdictRow) == 16  # one verdict per item, none twice
