"""Judge a dataset: folders, globs, manifests (JSONL, CSV, Parquet) or a saved Hugging Face dataset,
into a results file, resumably.

    rows = read_items(["shots/", "more/*.png"], prompt="a red bicycle")
    summary = run_batch(judge, rows, Path("results.jsonl"))

Inputs (each of `sources`, mixed freely):
- an image file, a folder (its images, recursively, in name order) or a glob pattern: one prompt
  for all (`prompt`), or per image from a `metadata.jsonl` / `metadata.csv` in the folder (the
  Hugging Face image-folder layout: a `file_name` column and a `prompt` or `text` column);
- a manifest, `.jsonl`, `.csv` or `.parquet`: one row per item with an image path (column `image`,
  `file_name` or `path`; relative paths are taken from the manifest's folder), a prompt (`prompt`,
  `text`, `caption` or `instruction`), and optionally `source` (the image before an edit: the row
  is then judged as an edit) and `id`;
- a dataset saved with `datasets.Dataset.save_to_disk` (a folder holding `dataset_info.json` or
  `state.json`), with the same columns; its image column may hold images.

Results (`.jsonl`, or `.parquet` written at the end from a `.jsonl` beside it): one row per item with
its id, image, prompt, score, per-criterion scores, coverage, abstention reason or error, and the
trace and verdict ids. Rows are appended as items finish, so a crash loses only the items in flight.
A rerun with the same results file skips every item already judged; items that ended in an error
(a missing image, a backend that was down) are judged again. A bad row never stops the batch.
"""

from __future__ import annotations

import asyncio
import csv
import glob
import json
import math
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrutiny.core.schema import Verdict

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
MANIFEST_SUFFIXES = {".jsonl", ".csv", ".parquet"}
IMAGE_COLUMNS = ("image", "file_name", "path", "file")
PROMPT_COLUMNS = ("prompt", "text", "caption", "instruction")


@dataclass
class Item:
    """One thing to judge: an image (a path, or an image object from a dataset) and its prompt."""

    id: str
    image: Any
    prompt: str
    source: Any = None
    error: str | None = None
    """Why the row cannot be judged (found while reading it): it becomes an error row."""

    @property
    def image_name(self) -> str:
        return self.image if isinstance(self.image, str) else f"<{type(self.image).__name__}>"


class BatchError(ValueError):
    """The batch as a whole cannot start (no inputs, an unreadable manifest): one line for the user."""


# 1. reading inputs


def read_items(sources: list[str], prompt: str | None = None) -> list[Item]:
    """Every item the sources name, in order, with unique ids."""
    if not sources:
        raise BatchError("nothing to judge: give image files, folders, glob patterns, manifests or a dataset")
    items: list[Item] = []
    for source in sources:
        items.extend(_items_of(source, prompt))
    if not items:
        raise BatchError(f"no images found in {', '.join(sources)}")
    return _unique(items)


def _items_of(source: str, prompt: str | None) -> Iterator[Item]:
    path = Path(source)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()):
        yield from _dataset_items(path)
    elif path.is_dir():
        meta = next((path / n for n in ("metadata.jsonl", "metadata.csv") if (path / n).exists()), None)
        if meta is not None and prompt is None:
            yield from _manifest_items(meta)
        else:
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            yield from (_image_item(p, prompt) for p in files)
    elif path.suffix.lower() in MANIFEST_SUFFIXES and path.exists():
        yield from _manifest_items(path)
    elif path.exists():
        yield _image_item(path, prompt)
    elif glob.has_magic(source):
        matches = sorted(Path(p) for p in glob.glob(source, recursive=True))
        yield from (_image_item(p, prompt) for p in matches if p.suffix.lower() in IMAGE_SUFFIXES)
    else:  # a missing file is a row of its own, not the end of the batch
        yield Item(id=source, image=source, prompt=prompt or "", error=f"ImageError: {source}: no such file")


def _image_item(path: Path, prompt: str | None) -> Item:
    if prompt is None:
        raise BatchError(
            f"{path} has no prompt: give --prompt, or a manifest (JSONL/CSV/Parquet) or metadata.jsonl with a prompt column"
        )
    return Item(id=str(path), image=str(path), prompt=prompt)


def _manifest_rows(path: Path) -> Iterator[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as e:
                            yield {
                                "__error__": f"bad row: {path.name} line {n} is not JSON ({e.msg})",
                                "id": f"{path.name}:{n}",
                            }
                            continue
                        yield (
                            row
                            if isinstance(row, dict)
                            else {"__error__": f"bad row: {path.name} line {n} is not an object"}
                        )
        elif suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                yield from csv.DictReader(f)
        else:
            yield from _parquet_rows(path)
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"cannot read {path}: {e}") from None


def _parquet_rows(path: Path) -> Iterator[dict]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise BatchError(f"reading {path.name} needs pyarrow: pip install 'scrutiny[data]'") from None
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def _manifest_items(path: Path) -> Iterator[Item]:
    for n, row in enumerate(_manifest_rows(path), 1):
        yield _row_item(row, f"{path.name}:{n}", path.parent)


def _row_item(row: dict, fallback_id: str, folder: Path | None) -> Item:
    row_id = str(row.get("id") or "") or None
    if "__error__" in row:
        return Item(id=row_id or fallback_id, image="", prompt="", error=row["__error__"])
    image = next((row[c] for c in IMAGE_COLUMNS if row.get(c) not in (None, "")), None)
    prompt = next((row[c] for c in PROMPT_COLUMNS if isinstance(row.get(c), str)), "")
    source = row.get("source") or None
    image, source = (_resolve(x, folder) for x in (image, source))
    item = Item(
        id=row_id or (image if isinstance(image, str) else fallback_id), image=image, prompt=prompt, source=source
    )
    if image is None:
        item.image, item.error = "", f"bad row: {fallback_id} has no image column ({', '.join(IMAGE_COLUMNS)})"
    elif not prompt.strip():
        item.error = f"bad row: {fallback_id} has an empty prompt"
    return item


def _resolve(value: Any, folder: Path | None) -> Any:
    """A relative path is taken from the manifest's folder; a dataset's image dict becomes its bytes or path."""
    if isinstance(value, dict):  # a datasets Image column read without decoding: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            import io

            from PIL import Image

            return Image.open(io.BytesIO(value["bytes"]))
        value = value.get("path")
    if isinstance(value, str) and folder is not None and not os.path.isabs(value):
        return str(folder / value)
    return value


def _dataset_items(path: Path) -> Iterator[Item]:
    try:
        import datasets
    except ModuleNotFoundError:
        raise BatchError(f"reading the dataset at {path} needs `datasets`: pip install 'scrutiny[data]'") from None
    try:
        data = datasets.load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001 - any failure to open is one line for the user
        raise BatchError(f"cannot open the dataset at {path}: {e}") from None
    if isinstance(data, datasets.DatasetDict):
        split = "train" if "train" in data else next(iter(data))
        data = data[split]
    for n, row in enumerate(data):
        yield _row_item(row, f"{path.name}:{n}", None)


def _unique(items: list[Item]) -> list[Item]:
    """Ids made unique: a second row with the same image and another prompt gets `#2`, and so on."""
    seen: Counter[str] = Counter()
    for item in items:
        seen[item.id] += 1
        if seen[item.id] > 1:
            item.id = f"{item.id}#{seen[item.id]}"
    return items


# 2. results


def result_row(item: Item, verdict: Verdict | None, run_id: str, error: str | None = None) -> dict:
    """One line of the results file."""
    row: dict[str, Any] = {
        "id": item.id,
        "image": item.image_name,
        "prompt": item.prompt,
        "source": item.source if isinstance(item.source, str) else None,
        "score": None,
        "abstained": True,
        "reason": None,
        "error": error or item.error,
        "criteria": {},
        "checked": 0,
        "unchecked": 0,
        "trace_id": None,
        "verdict_id": None,
        "run_id": run_id,
    }
    if verdict is None:
        row["reason"] = row["error"]
        return row
    statements = {c.id: c.statement for c in verdict.rubric}
    coverage = verdict.coverage[0] if verdict.coverage else None
    row.update(
        score=verdict.scores[0],
        abstained=verdict.scores[0] is None,
        error=verdict.error,
        reason=verdict.error or (coverage.abstain_reason if coverage else None),
        criteria={
            statements.get(s.criterion, s.criterion): s.score for s in verdict.criterion_scores if s.candidate == 0
        },
        checked=len(coverage.checked) if coverage else 0,
        unchecked=len(coverage.unchecked) if coverage else 0,
        trace_id=verdict.trace_id,
        verdict_id=verdict.id,
    )
    return row


def _log_path(out: Path) -> Path:
    """Where rows are appended: the results file itself, or a `.jsonl` beside a Parquet file."""
    return out if out.suffix.lower() != ".parquet" else out.with_suffix(".parquet.jsonl")


def load_results(out: Path) -> list[dict]:
    """The rows a results file holds (a Parquet file's rows and its unfinished log), last row per id."""
    rows: dict[str, dict] = {}
    if out.suffix.lower() == ".parquet" and out.exists():
        for row in _parquet_rows(out):
            row["criteria"] = json.loads(row.get("criteria") or "{}")
            rows[row["id"]] = row
    log = _log_path(out)
    if log.exists():
        with log.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a crashed run can be cut short
                rows[row["id"]] = row
    return list(rows.values())


def previous_run(out: Path) -> str | None:
    """The run id of the last row of a results file (None for a new file): a rerun resumes that run."""
    rows = load_results(out)
    return rows[-1].get("run_id") if rows else None


def _start_log(out: Path, keep: list[dict]) -> None:
    """Rewrite the log with the rows kept (judged ones): error rows of an earlier run are judged again."""
    log = _log_path(out)
    log.parent.mkdir(parents=True, exist_ok=True)
    partial = log.with_name(log.name + ".tmp")
    with partial.open("w", encoding="utf-8") as f:
        for row in keep:
            f.write(json.dumps(row) + "\n")
    partial.replace(log)


def _finish(out: Path, rows: list[dict]) -> None:
    if out.suffix.lower() != ".parquet":
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{**r, "criteria": json.dumps(r["criteria"])} for r in rows])
    partial = out.with_name(out.name + ".tmp")
    pq.write_table(table, partial)
    partial.replace(out)
    _log_path(out).unlink(missing_ok=True)


# 3. running


@dataclass
class Summary:
    total: int
    judged: int = 0
    skipped: int = 0
    """Already in the results file from an earlier run."""
    errors: int = 0
    passing: int | None = None
    scores: list[float] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    interrupted: bool = False
    lost: int = 0
    """Rows judged in this run that are not in the results file at its end (something else wrote it)."""

    @property
    def abstained(self) -> int:
        return sum(self.reasons.values())

    def counts(self) -> dict:
        return {
            "total": self.total,
            "judged": self.judged,
            "skipped": self.skipped,
            "errors": self.errors,
            "abstained": self.abstained,
            "passing": self.passing,
            "lost": self.lost,
            "mean_score": round(sum(self.scores) / len(self.scores), 6) if self.scores else None,
        }

    def histogram(self, bins: int = 10) -> list[int]:
        counts = [0] * bins
        for s in self.scores:
            counts[min(bins - 1, int(s * bins))] += 1
        return counts


def _reason_kind(reason: str) -> str:
    """The kind of an abstention, for the summary: an error's type ("ImageError", "bad row"), or the
    coverage reason itself."""
    head = reason.split(":")[0]
    if head == "bad row" or re.fullmatch(r"[A-Z]\w*(Error|Exception)", head):
        return head
    return reason.strip()[:80]


class OneWriter:
    """One batch writes a results file at a time: an advisory lock on `OUT.lock`, held while the batch
    runs and released when it ends or its process dies (the system releases it even after kill -9,
    so a lock file left behind is stale and is simply taken). The file names the holder for the
    message a second batch gets."""

    def __init__(self, out: Path) -> None:
        self.path = out.with_name(out.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a+", encoding="utf-8")
        try:
            _lock_exclusive(self._file)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read(200).strip() or "another process"
            self._file.close()
            raise ValueError(
                f"another batch is writing {out} ({holder}): wait for it to finish, or give another --out"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        self._file.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}")
        self._file.flush()

    def release(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.close()  # closing the file releases the lock


def _lock_exclusive(file) -> None:
    """An exclusive lock on an open file without waiting (BlockingIOError when another holds it)."""
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows: msvcrt's lock on the first byte
        import msvcrt

        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class Results:
    """A results file being written: the rows kept from earlier runs, the items still to judge, and an
    append-only log that every finished row goes to at once. One writer: the batch holding its lock
    (`OneWriter`); the summary counts only rows that are in the file when the batch ends."""

    def __init__(self, out: Path, items: list[Item]) -> None:
        self.out = out
        self._writer = OneWriter(out)
        try:
            self._open(items)
        except BaseException:
            self._writer.release()
            raise

    def _open(self, items: list[Item]) -> None:
        out = self.out
        earlier = load_results(out)
        self.earlier = {r["id"]: r for r in earlier if not r.get("error")}  # error rows are judged again
        _start_log(out, list(self.earlier.values()))
        self.todo = [(step, item) for step, item in enumerate(items) if item.id not in self.earlier]
        self.rows = list(self.earlier.values())
        self.summary = Summary(total=len(items), skipped=len(items) - len(self.todo))
        self._log = _log_path(out).open("a", encoding="utf-8")
        self._started = time.monotonic()

    def write(self, row: dict) -> None:
        self._log.write(json.dumps(row) + "\n")
        self._log.flush()
        self.rows.append(row)

    def close(self, complete: bool, min_score: float | None = None, passing: Path | None = None) -> Summary:
        """Close the log; a complete batch to Parquet is written out now. Returns the summary, which
        counts the rows the file holds (a row that did not reach it is counted as lost, not judged)."""
        try:
            self._log.close()
            summary = self.summary
            summary.seconds = time.monotonic() - self._started
            summary.interrupted = not complete
            if complete:
                _finish(self.out, self.rows)
            in_file = {r.get("id") for r in load_results(self.out)}
            kept = [r for r in self.rows if r["id"] in in_file]
            summary.lost = len(self.rows) - len(kept)
            _tally(summary, kept, self.earlier)
            if min_score is not None:
                summary.passing = _write_passing(kept, min_score, passing or _passing_path(self.out))
            return summary
        finally:
            self._writer.release()


async def judge_item(judge, item: Item, step: int, run_id: str, rubric: list | None = None) -> dict:
    """One item's results row; every failure (a bad row, an unreadable image, a backend that failed) is
    the row's error, never an exception."""
    if item.error:
        return result_row(item, None, run_id)
    metadata = {"run": run_id, "step": step, "item": item.id}
    if item.source is not None:
        judgment = judge.aedit(item.source, item.image, item.prompt, rubric=rubric, metadata=metadata)
        verdict = await judge.or_abstain(judgment, "edit", item.prompt, metadata=metadata)
    else:
        judgment = judge.ajudge(item.image, item.prompt, rubric=rubric, metadata=metadata)
        verdict = await judge.or_abstain(judgment, "score", item.prompt, metadata=metadata)
    return result_row(item, verdict, run_id)


async def arun_batch(
    judge,
    items: list[Item],
    out: Path,
    *,
    run_id: str,
    min_score: float | None = None,
    passing: Path | None = None,
    on_done: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    rubric: list | None = None,
) -> Summary:
    """Judge the items not yet in `out`, appending a row per item as it finishes; see the module docstring."""
    results = Results(out, items)
    if on_start is not None:
        on_start(len(results.todo))
    work = iter(results.todo)

    async def worker() -> None:
        for step, item in work:
            results.write(await judge_item(judge, item, step, run_id, rubric))
            if on_done is not None:
                on_done()

    workers = max(1, min(judge.config.concurrency, len(results.todo)))
    complete = False
    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
        complete = True
    finally:
        summary = results.close(complete, min_score, passing)
    return summary


def _tally(summary: Summary, rows: list[dict], earlier: dict[str, dict]) -> None:
    for row in rows:
        if row["id"] not in earlier:
            summary.judged += 1
            summary.errors += bool(row.get("error"))
        if row.get("score") is not None:
            summary.scores.append(row["score"])
        else:
            summary.reasons[_reason_kind(row.get("reason") or "abstained")] += 1


def _passing_path(out: Path) -> Path:
    return out.with_name(out.name.split(".")[0] + ".passing.jsonl")


def _write_passing(rows: list[dict], min_score: float, path: Path) -> int:
    """The items scoring at least `min_score` (dataset filtering), as a manifest that can be judged again."""
    keep = [r for r in rows if r.get("score") is not None and r["score"] >= min_score]
    with path.open("w", encoding="utf-8") as f:
        for r in keep:
            f.write(json.dumps({k: r[k] for k in ("id", "image", "prompt", "source", "score")}) + "\n")
    return len(keep)


def run_batch(judge, items: list[Item], out: Path, **kw) -> Summary:
    from scrutiny.core.aio import block_on

    return block_on(arun_batch(judge, items, out, **kw))


def histogram_lines(summary: Summary, width: int = 40) -> list[str]:
    """The score histogram as text bars, one line per tenth."""
    counts = summary.histogram()
    top = max(counts) or 1
    return [
        f"{k / 10:.1f}-{(k + 1) / 10:.1f} {'#' * math.ceil(width * c / top) if c else '':<{width}} {c}"
        for k, c in enumerate(counts)
    ]
