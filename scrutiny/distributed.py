"""Judge a batch on Ray: Ray Data maps the items over a pool of judge actors, on this machine or a cluster.

    scrutiny judge data.jsonl --out results.jsonl --ray local --workers 8
    scrutiny judge data.jsonl --out results.jsonl --ray ray://head:10001 --workers 64

Needs the `[ray]` extra (`pip install 'scrutiny[ray]'`).

How it runs:
- The driver (the process running `scrutiny judge`) reads the inputs and the results file, and hands
  Ray Data the items still to judge. Each actor builds one `Judge` (the offline policy, or the model
  policy over the same server pool given by `--backend`: the actors share the servers) and judges a
  small batch at a time, `JudgeConfig.concurrency` items at once.
- **Results rows** come back to the driver as a stream and are appended to the results file there,
  one writer, as they arrive: a crash of the driver loses only the batches in flight, and a rerun
  resumes. Ray Data emits a batch's rows once, when the batch has finished.
- **A worker that dies** (killed, out of memory, its node lost) is restarted by Ray, and its batch in
  flight is run again on a live actor: no item is lost. Verdicts the dead worker had already stored
  are not stored twice: a judgment looks up the verdict cache first, and the store keeps one
  verdict per task (see `Store.submit_judgment`).
- **Verdicts and traces** go to each worker's store, named as everywhere by `SCRUTINY_DB_URL` or
  `SCRUTINY_HOME` (both passed on to the workers). On one machine that is the same SQLite file the
  driver uses. On a cluster, point `SCRUTINY_DB_URL` at a PostgreSQL database every node can reach;
  with per-node SQLite files the results file is still complete, but the traces stay on the nodes.
- **Images** are sent by path when they are files (the workers must see the same paths: a shared
  filesystem on a cluster), and as PNG bytes when they are in memory (a dataset's image column).
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scrutiny.batch import Item, Results, Summary, judge_item

PASSED_ON = ("SCRUTINY_HOME", "SCRUTINY_DB_URL", "SCRUTINY_DETECTOR", "SCRUTINY_OPEN_DETECTOR", "SCRUTINY_CLIP")
"""Environment variables the workers get from the driver: where the store is, which detectors to use."""


@dataclass
class JudgeSpec:
    """What each actor builds its `Judge` from (a judge itself does not travel between processes)."""

    backend: str | None = None
    """Server URLs (comma-separated) or 'serve', as `--backend`; None: the offline policy."""
    model: str | None = None
    tag_tools: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    """`JudgeConfig` fields."""

    def build(self):
        from scrutiny.api import Judge, JudgeConfig

        config = JudgeConfig(**self.config)
        if self.backend is None:
            return Judge(config=config)
        from scrutiny.agents.model import ModelPolicy
        from scrutiny.backends import OpenAIBackend
        from scrutiny.serve import endpoints_file

        if self.backend == "serve":
            backend = OpenAIBackend.from_file(endpoints_file())
        else:
            backend = OpenAIBackend([u for u in self.backend.split(",") if u.strip()], self.model or "")
        return Judge(policy=ModelPolicy(backend, native_tools=not self.tag_tools), config=config)


class _JudgeActor:
    """One Ray actor: a judge, and a batch of items at a time."""

    def __init__(self, spec: JudgeSpec, run_id: str, rubric: list | None) -> None:
        from scrutiny.core.malloc import limit_arenas

        limit_arenas()  # the actor's process is scrutiny's: fewer malloc arenas for its judging threads
        self.judge = spec.build()
        self.run_id = run_id
        self.rubric = rubric
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        import asyncio

        from scrutiny.core.aio import block_on

        items = [_item(batch, k) for k in range(len(batch["id"]))]
        steps = [int(s) for s in batch["step"]]
        limit = asyncio.Semaphore(self.judge.config.concurrency)

        async def one(item: Item, step: int) -> dict:
            async with limit:
                return await judge_item(self.judge, item, step, self.run_id, self.rubric)

        async def all_of() -> list[dict]:
            return await asyncio.gather(*(one(item, step) for item, step in zip(items, steps, strict=True)))

        rows = block_on(all_of())
        return {"row": [json.dumps(r) for r in rows], "worker": [self.pid] * len(rows)}


def _payload(step: int, item: Item) -> dict:
    """An item as a Ray Data row: paths as text, in-memory images as PNG bytes."""
    return {
        "id": item.id,
        "step": step,
        "prompt": item.prompt,
        "error": item.error or "",
        "image_path": item.image if isinstance(item.image, str) else "",
        "image_png": _png(item.image),
        "source_path": item.source if isinstance(item.source, str) else "",
        "source_png": _png(item.source),
    }


def _png(image: Any) -> bytes:
    if image is None or isinstance(image, str):
        return b""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _item(batch: dict[str, Any], k: int) -> Item:
    def image(path_key: str, png_key: str):
        png = batch[png_key][k]
        if png is not None and len(png):
            from PIL import Image

            return Image.open(io.BytesIO(bytes(png)))
        return str(batch[path_key][k]) or None

    return Item(
        id=str(batch["id"][k]),
        image=image("image_path", "image_png") or "",
        prompt=str(batch["prompt"][k]),
        source=image("source_path", "source_png"),
        error=str(batch["error"][k]) or None,
    )


def judge_on_ray(
    spec: JudgeSpec,
    items: list[Item],
    out: Path,
    *,
    run_id: str,
    address: str | None = "local",
    workers: int = 2,
    batch_size: int = 8,
    min_score: float | None = None,
    passing: Path | None = None,
    rubric: list | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[], None] | None = None,
    on_row: Callable[[dict, int], None] | None = None,
) -> Summary:
    """Judge the items not yet in `out` on Ray (see the module docstring). `address`: "local" starts
    Ray on this machine (or joins the one this process already runs), anything else is passed to
    `ray.init(address=...)`. `on_row(row, worker_pid)` sees each row as it is written."""
    try:
        import ray
    except ModuleNotFoundError:
        raise ValueError("--ray needs Ray: pip install 'scrutiny[ray]'") from None
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    results = Results(out, items)
    if on_start is not None:
        on_start(len(results.todo))
    try:
        started_here = _start_ray(ray, address, workers)
    except BaseException:
        results.close(False)  # the results file's lock is released; nothing was judged
        raise
    complete = False
    try:
        if results.todo:
            dataset = ray.data.from_items([_payload(step, item) for step, item in results.todo])
            judged = dataset.map_batches(
                _JudgeActor,
                fn_constructor_kwargs={"spec": spec, "run_id": run_id, "rubric": rubric},
                # Ray Data's actor pools restart a dead actor and run its batch in flight again
                # (max_restarts=-1, max_task_retries=-1 by default)
                compute=ray.data.ActorPoolStrategy(size=workers),
                batch_size=batch_size,
                num_cpus=1,
            )
            for record in judged.iter_rows():
                row = json.loads(record["row"])
                results.write(row)
                if on_row is not None:
                    on_row(row, int(record["worker"]))
                if on_done is not None:
                    on_done()
        complete = True
    finally:
        summary = results.close(complete, min_score, passing)
        if started_here:
            ray.shutdown()
    return summary


def _start_ray(ray, address: str | None, workers: int) -> bool:
    """Join or start Ray for Ray Data (quiet: our bar counts rows); whether it was started here."""
    started_here = start_ray(address, workers)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts rows; Ray's would interleave with it
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return started_here


def start_ray(address: str | None, cpus: int) -> bool:
    """Join Ray at `address` ("local" or None: start it here with at least `cpus` CPUs, or join the one
    this process runs), passing on where the store is (`PASSED_ON`); whether it was started here."""
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    kwargs: dict[str, Any] = {
        "runtime_env": {"env_vars": env},
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if address in (None, "local"):
        kwargs.update(num_cpus=max(cpus, os.cpu_count() or 1), include_dashboard=False)
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    return True


def spec_of(judge, backend: str | None, model: str | None, tag_tools: bool) -> JudgeSpec:
    """The spec of a judge built by the CLI from these options."""
    return JudgeSpec(backend=backend, model=model, tag_tools=tag_tools, config=asdict(judge.config))
