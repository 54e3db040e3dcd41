"""The store on a real PostgreSQL server (throwaway, see `postgres_server` in conftest): what the
SQLite tests prove, on the database a team shares between machines."""

import json
import multiprocessing

import pytest
from PIL import Image

from scrutiny.core.schema import Task, Trace, Verdict
from scrutiny.memory import Store, StoreError
from scrutiny.memory.tables import TraceRow, VerdictRow


def _task(prompt: str = "a red circle") -> Task:
    return Task(kind="score", prompt=prompt, candidates=["0" * 64])


@pytest.fixture
def url(postgres_server):
    return postgres_server()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_traces_verdicts_cache_and_filters_round_trip(url, tmp_path):
    store = Store(url=url, home=tmp_path)
    trace = Trace(task=_task("100% off_sale"))
    trace.add("node_enter", "route")
    verdict = Verdict(task=trace.task, scores=[0.7], trace_id=trace.id)
    trace.verdict_id = verdict.id
    store.record_judgment(trace, verdict, [Image.new("RGB", (4, 4))], cache_key="k1")
    assert store.trace(trace.id[:8]).events[0].node == "route"
    assert store.cached_verdict("k1").scores == [0.7] and store.cached_verdict("k1").cached
    assert [r.id for r in store.traces(prompt="0% off_")] == [trace.id]  # % and _ are literal on PostgreSQL too
    assert store.traces(prompt="1000") == [] and store.count_traces(min_score=0.5) == 1


def _writer(url: str, home: str, worker: int, n: int) -> None:
    store = Store(url=url, home=home)
    for i in range(n):
        trace = Trace(task=_task(f"w{worker}-{i}"))
        trace.add("node_enter", "route")
        store.record_trace(trace)
        store.cache_verdict(f"w{worker}-{i}", Verdict(task=trace.task, scores=[i / n], trace_id=trace.id))
    store.close()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_two_writer_processes(url, tmp_path):
    Store(url=url, home=tmp_path).close()  # the tables exist before the race, as they would in use
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(url, str(tmp_path), w, 30)) for w in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    store = Store(url=url, home=tmp_path)
    assert store.count(TraceRow) == 60 and store.count(VerdictRow) == 60
    assert store.cached_verdict("w1-29").scores == [29 / 30]


def _judge_tasks(url: str, home: str) -> None:
    from scrutiny import Judge
    from scrutiny.testing.scenes import fitted_sign

    judge = Judge(store=Store(url=url, home=home))
    words = ["OPEN", "SHUT", "SALE"]
    judge.judge_many([fitted_sign(w) for w in words * 3], [f'The words "{w}"' for w in words * 3])
    judge.store.close()


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_two_processes_judging_the_same_tasks_store_one_verdict_each(url, tmp_path):
    Store(url=url, home=tmp_path).close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_judge_tasks, args=(url, str(tmp_path))) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=240)
    assert [p.exitcode for p in processes] == [0, 0]
    assert Store(url=url, home=tmp_path).count(VerdictRow) == 3


def test_schema_version_mismatch_is_a_clear_error(url, tmp_path):
    import psycopg

    Store(url=url, home=tmp_path).close()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 999"):
        Store(url=url, home=tmp_path)


def test_runs_and_columns_added_later(url, tmp_path):
    import psycopg

    store = Store(url=url, home=tmp_path)
    store.record_run("old", "bench", {"accuracy": 0.9}, [])
    store.close()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute("ALTER TABLE traces DROP COLUMN run_id")
        connection.execute("ALTER TABLE runs DROP COLUMN status")
    again = Store(url=url, home=tmp_path)
    assert json.loads(again.run("old").metrics_json) == {"accuracy": 0.9}
    run = again.start_run("judge", "scrutiny judge x", {})
    trace = Trace(task=Task(kind="score", prompt="p", candidates=["0" * 64], metadata={"run": run, "step": 2}))
    again.record_trace(trace)
    again.finish_run(run, "done", counts={"judged": 1})
    assert again.run(run).status == "done" and again.count_traces(run_id=run, step=2) == 1


def test_a_plain_postgresql_url_uses_psycopg_3(url, tmp_path):
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    store = Store(url=plain, home=tmp_path)
    store.record_verdict(Verdict(task=_task(), scores=[0.5]))
    assert store.count(VerdictRow) == 1 and store.engine.dialect.driver == "psycopg"


def test_an_unreachable_server_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(url="postgresql+psycopg://nobody@127.0.0.1:1/none", home=tmp_path)
