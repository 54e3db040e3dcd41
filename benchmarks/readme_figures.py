"""The figures README quotes, measured: run before each release and copy what it prints.

    python benchmarks/readme_figures.py [--suite] [--example] [--seeds 0,1,2]

`--suite`: wall time of the full suite (`python -m pytest -q`) and of the fast loop
(`-m "not slow"`), each once, in fresh processes. `--example`: `scrutiny train
examples/grpo_red_square.toml` once per seed (a copy of the file with `seed` set and its own run
folder): wall time, the mean reward of the first step, of the best five steps and of the last five,
and their spread over the seeds (min–max). Both print the machine they ran on (CPU count, load at
the start), since these times move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grpo_red_square.toml"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs, load {load:.1f} at the start"


def timed(command: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, **kw)
    return time.perf_counter() - started, done


def suite() -> None:
    print(f"the suite, on {machine()}")
    for name, extra in (("full suite", []), ("fast loop", ["-m", "not slow"])):
        seconds, done = timed([sys.executable, "-m", "pytest", "-q", *extra])
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
        print(f"  {name:10s} {seconds / 60:5.1f} min   {tail}")


def one_seed(seed: int, folder: Path) -> dict:
    """The example with `seed` (its run folder in `folder`): wall time and the reward per step."""
    text = EXAMPLE.read_text()
    text = re.sub(r'checkpoint_dir = ".*"', f'checkpoint_dir = "{(folder / f"seed-{seed}").as_posix()}"', text)
    text = text.replace("[grpo]\n", f"[grpo]\nseed = {seed}\n", 1)
    config = folder / f"seed-{seed}.toml"
    config.write_text(text)
    env = {**os.environ, "SCRUTINY_HOME": str(folder / "home")}
    seconds, done = timed([sys.executable, "-m", "scrutiny.cli", "train", str(config), "--json"], env=env)
    if done.returncode != 0:
        raise SystemExit(f"seed {seed} failed: {done.stderr.strip().splitlines()[-1:]}")
    rewards = [h["reward_mean"] for h in json.loads(done.stdout)["history"]]
    best = sorted(statistics.fmean(rewards[k : k + 5]) for k in range(max(1, len(rewards) - 4)))[-1]
    return {"seconds": seconds, "first": rewards[0], "best5": best, "last5": statistics.fmean(rewards[-5:])}


def example(seeds: list[int]) -> None:
    print(f"scrutiny train {EXAMPLE.relative_to(ROOT)}, seeds {seeds}, on {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        rows = [one_seed(seed, Path(folder)) for seed in seeds]
    for seed, row in zip(seeds, rows):
        print(
            f"  seed {seed}: {row['seconds'] / 60:4.1f} min, reward {row['first']:.2f} -> "
            f"best five {row['best5']:.2f}, last five {row['last5']:.2f}"
        )
    for key, label in (("seconds", "minutes"), ("first", "first step"), ("best5", "best five"), ("last5", "last five")):
        values = [r[key] / (60 if key == "seconds" else 1) for r in rows]
        print(f"  {label:10s} mean {statistics.fmean(values):.2f}, range {min(values):.2f}-{max(values):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="store_true", help="time the full suite and the fast loop")
    parser.add_argument("--example", action="store_true", help="the GRPO example over the seeds")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    if not (args.suite or args.example):
        parser.error("say what to measure: --suite, --example, or both")
    if args.example:
        example([int(s) for s in args.seeds.split(",")])
    if args.suite:
        suite()


if __name__ == "__main__":
    main()
