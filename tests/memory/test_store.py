import json
import multiprocessing
import sqlite3
import threading

import pytest
from PIL import Image

from scrutiny.core.images import image_hash
from scrutiny.core.schema import SCHEMA_VERSION, Task, Trace, Verdict
from scrutiny.memory import Store, StoreError
from scrutiny.memory.tables import ArtifactRow, TraceRow, VerdictRow


def _task(prompt="a red square"):
    return Task(kind="score", prompt=prompt, candidates=["abc"])


def test_trace_round_trip_keeps_events_in_order(store):
    trace = Trace(task=_task())
    trace.add("node_enter", "route")
    trace.add("tool_call", "inspect", tool="ocr", arguments={"box": [1, 2, 3, 4]})
    trace.add("tool_result", "inspect", output={"text": "OPEN"})
    store.record_trace(trace)
    back = store.trace(trace.id)
    assert back == trace
    assert store.trace(trace.id[:8]).id == trace.id  # short ids work like git's


def test_rewriting_a_trace_replaces_its_events(store):
    trace = Trace(task=_task())
    trace.add("node_enter", "route")
    store.record_trace(trace)
    trace.add("node_exit", "route")
    store.record_trace(trace)
    assert len(store.trace(trace.id).events) == 2


def test_unknown_and_ambiguous_ids_are_clear_errors(store):
    with pytest.raises(StoreError, match="no trace with id 'ffff'"):
        store.trace("ffff")


def test_verdict_and_cache_round_trip(store):
    verdict = Verdict(task=_task(), scores=[0.75], critique="fine")
    assert store.cached_verdict("key") is None
    store.cache_verdict("key", verdict)
    hit = store.cached_verdict("key")
    assert hit.cached and hit.model_copy(update={"cached": False}) == verdict
    assert store.verdict(verdict.id).scores == [0.75]


def test_abstained_verdict_is_stored_as_none(store):
    verdict = Verdict(task=_task(), scores=[None])
    store.record_verdict(verdict)
    assert store.verdict(verdict.id).scores == [None]


def test_artifacts_are_content_addressed_files(store):
    red = Image.new("RGB", (8, 8), "red")
    digest = store.put_artifact(red)
    assert store.put_artifact(red.copy()) == digest
    path = store.artifact_path(digest)
    assert path.is_file() and path.parent.parent == store.artifacts_dir
    assert store.artifact(digest).tobytes() == red.tobytes()
    with pytest.raises(StoreError, match="no artifact"):
        store.artifact("0" * 64)


def test_default_location_is_scrutiny_home_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "h"))
    store = Store()
    store.record_verdict(Verdict(task=_task(), scores=[1.0]))
    store.close()
    db = tmp_path / "h" / "scrutiny.db"
    assert db.is_file()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_db_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRUTINY_DB_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    Store(home=tmp_path / "h").close()
    assert (tmp_path / "elsewhere.db").is_file()


def test_schema_version_mismatch_is_a_clear_error(tmp_path):
    Store(home=tmp_path).close()
    connection = sqlite3.connect(tmp_path / "scrutiny.db")
    connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    connection.commit()
    with pytest.raises(StoreError, match="schema version 999"):
        Store(home=tmp_path)


def test_many_threads_write_at_once(tmp_path):
    store = Store(home=tmp_path)

    def work(i):
        for j in range(10):
            store.record_verdict(Verdict(task=_task(f"p{i}-{j}"), scores=[0.5]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count(VerdictRow) == 80


def _writer(home: str, worker: int, n: int) -> None:
    store = Store(home=home)
    for i in range(n):
        trace = Trace(task=_task(f"w{worker}-{i}"))
        trace.add("node_enter", "route")
        store.record_trace(trace)
        store.cache_verdict(f"w{worker}-{i}", Verdict(task=trace.task, scores=[i / n], trace_id=trace.id))
        store.put_artifact(Image.new("RGB", (4, 4), (worker, i, 0)))
    store.close()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_two_processes_write_at_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    store = Store(home=tmp_path)
    assert store.count(TraceRow) == 80 and store.count(VerdictRow) == 80
    assert store.cached_verdict("w1-39").scores == [39 / 40]


def _judge_tasks(home: str, worker: int) -> None:
    from scrutiny import Judge
    from scrutiny.testing.scenes import fitted_sign

    judge = Judge(store=Store(home=home))
    words = ["OPEN", "SHUT", "SALE", "FREE", "CAFE", "BAR"]
    judge.judge_many([fitted_sign(w) for w in words * 4], [f'The words "{w}"' for w in words * 4])
    judge.store.close()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_two_processes_judging_the_same_tasks_store_one_verdict_each(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_judge_tasks, args=(str(tmp_path), w)) for w in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=240)
    assert [p.exitcode for p in processes] == [0, 0]
    store = Store(home=tmp_path)
    assert store.count(VerdictRow) == 6  # 48 judgments of 6 tasks (each task 4 times in each process)


def test_in_memory_store_is_shared_safely_between_threads(store):
    def work(i):
        for j in range(10):
            trace = Trace(task=_task(f"t{i}-{j}"))
            trace.add("node_enter", "route")
            store.record_trace(trace)
            store.put_artifact(Image.new("RGB", (4, 4), (i, j, 0)))
            store.trace(trace.id)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count(TraceRow) == 60


def test_judgments_submitted_together_are_committed_together(store):
    shared = Image.new("RGB", (6, 6), "blue")
    futures, verdicts = [], []
    for i in range(40):
        trace = Trace(task=_task(f"group {i}"))
        trace.add("node_exit", "aggregate", scores=[i / 40])
        verdict = Verdict(task=trace.task, scores=[i / 40], trace_id=trace.id)
        trace.verdict_id = verdict.id
        own = Image.new("RGB", (6, 6), (i, 0, 0))
        futures.append(store.submit_judgment(trace, verdict, [shared, own], f"task {i}"))
        verdicts.append(verdict)
    for future in futures:
        assert future.result(timeout=30) is None  # each kept
    assert store.count(TraceRow) == 40 and store.count(VerdictRow) == 40
    assert store.count(ArtifactRow) == 41  # the shared image once
    assert store.cached_verdict("task 39").id == verdicts[-1].id
    back = store.trace(verdicts[7].trace_id)
    assert back.verdict_id == verdicts[7].id and back.events[0].data == {"scores": [7 / 40]}
    assert store.artifact(image_hash(shared)).tobytes() == shared.tobytes()


def test_artifacts_folder_removed_while_open_is_made_again(store):
    import shutil

    red = Image.new("RGB", (4, 4), "red")
    store.put_artifact(red)
    shutil.rmtree(store.artifacts_dir)
    digest = store.put_artifact(red)  # its folder was known to exist, and is gone
    assert store.artifact(digest).getpixel((0, 0)) == (255, 0, 0)


def test_two_stores_on_one_database_keep_one_verdict_per_task(tmp_path):
    stores = [Store(home=tmp_path), Store(home=tmp_path)]
    shared = Image.new("RGB", (5, 5), "purple")
    futures, ids = [], []
    for i in range(30):
        trace = Trace(task=_task("the same task"))
        verdict = Verdict(task=trace.task, scores=[0.5], trace_id=trace.id)
        futures.append(stores[i % 2].submit_judgment(trace, verdict, [shared], "one key"))
        ids.append(verdict.id)
    first = {future.result(timeout=60) or own for future, own in zip(futures, ids)}
    assert stores[0].count(ArtifactRow) == 1 and stores[1].count(VerdictRow) == 1
    assert first == {stores[0].cached_verdict("one key").id}  # every writer was told which one was kept
    for store in stores:
        store.close()


def test_a_version_1_store_is_read_and_upgraded(tmp_path):
    """Verdicts stored before criteria were typed (`params` dicts) read back as typed checks."""
    from scrutiny.core.schema import Criterion, CriterionScore, ObjectCheck, TextCheck

    store = Store(home=tmp_path)
    verdict = Verdict(
        task=_task(),
        scores=[0.5],
        criterion_scores=[CriterionScore(criterion="text_1", candidate=0, score=0.5)],
        rubric=[
            Criterion(id="text_1", statement='Shows "HI"', dimension="text", check=TextCheck(text="HI"), met=1.0),
            Criterion(id="count_1", statement="Three circles", dimension="count", check=ObjectCheck(object="circle")),
        ],
    )
    store.record_verdict(verdict)
    store.close()
    old = json.loads(verdict.model_dump_json())
    old["schema_version"] = 1
    old["criteria"] = old.pop("criterion_scores")  # the name versions 1 and 2 gave the scores
    old["rubric"] = [  # the version-1 shape of the same rubric
        {"id": "text_1", "statement": 'Shows "HI"', "dimension": "text", "params": {"text": "HI", "met": 1.0}},
        {
            "id": "count_1",
            "statement": "Three circles",
            "dimension": "count",
            "params": {"count": 3, "object": "circle", "detect": "circle", "color": None},
        },
    ]
    connection = sqlite3.connect(tmp_path / "scrutiny.db")
    connection.execute("UPDATE verdicts SET data_json = ? WHERE id = ?", (json.dumps(old), verdict.id))
    connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    again = Store(home=tmp_path)
    read = again.verdict(verdict.id)
    assert (
        read.schema_version == SCHEMA_VERSION
        and read.rubric[0].check == TextCheck(text="HI")
        and read.rubric[0].met == 1.0
    )
    assert read.rubric[1].check == ObjectCheck(object="circle", detect="circle", count=3)
    assert read.criterion_scores[0].score == 0.5  # stored as "criteria"
    assert sqlite3.connect(tmp_path / "scrutiny.db").execute(
        "SELECT value FROM meta WHERE key = 'schema_version'"
    ).fetchone() == (str(SCHEMA_VERSION),)


def test_a_store_made_before_runs_had_a_status_gets_the_new_columns(tmp_path):
    """Columns added later (a trace's run and step, a run's status) are added to an older store's tables."""
    store = Store(home=tmp_path)
    store.record_run("old-run", "bench", {"accuracy": 1.0}, [])
    store.close()
    connection = sqlite3.connect(tmp_path / "scrutiny.db")
    connection.execute("DROP INDEX ix_traces_run_id")
    for table, column in (("traces", "run_id"), ("traces", "step"), ("runs", "status"), ("runs", "finished_at")):
        connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    connection.commit()
    connection.close()
    again = Store(home=tmp_path)
    columns = {row[1] for row in sqlite3.connect(tmp_path / "scrutiny.db").execute("PRAGMA table_info(traces)")}
    assert {"run_id", "step"} <= columns
    old = again.run("old-run")
    assert old.status is None and json.loads(old.metrics_json) == {"accuracy": 1.0}  # old rows stay readable
    run_id = again.start_run("judge", "scrutiny judge x", {"items": 1})
    again.finish_run(run_id, "done", counts={"judged": 1})
    assert again.run(run_id).status == "done" and [r.id for r in again.runs(kind="judge")] == [run_id]
