"""`scrutiny train`, `scrutiny serve` and `scrutiny view`: the long-running commands."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from scrutiny.cli.common import (
    BackendOpt,
    JsonOpt,
    ModelOpt,
    app,
    err,
    one_line_errors,
)
from scrutiny.core.aio import freeze_gc
from scrutiny.memory import Store


@app.command("train")
@one_line_errors
def train_cmd(
    config_path: Annotated[
        Path, typer.Argument(metavar="CONFIG.toml", help="\\[grpo], \\[model] and \\[reward] settings.")
    ],
    resume: Annotated[Optional[Path], typer.Option(help="A checkpoint to resume from.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a generator with GRPO on scrutiny verdicts (see examples/grpo_red_square.toml)."""
    from scrutiny.trainers.run import build_run

    trainer, curve_path = build_run(config_path)
    if resume is not None:
        trainer.load(resume)
    freeze_gc()  # the models are loaded: the collector need not walk them every full collection
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from scrutiny.trainers.grids import sample_grid
    from scrutiny.trainers.monitor import reward_curve

    folder = curve_path.parent
    main = trainer.accelerator.is_main_process  # under `accelerate launch`, one process writes and prints
    with trainer.ema.applied() if trainer.ema is not None else contextlib.nullcontext():
        before = sample_grid(trainer, folder / f"samples-step-{trainer.step_index:06d}.png") if main else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=as_json or not main, console=err) as bar:
        task = bar.add_task("GRPO", total=trainer.config.steps, completed=trainer.step_index)

        def progress(metrics: dict) -> None:
            bar.update(task, advance=1, description=f"GRPO reward {metrics['reward_mean']:.3f}")

        history = trainer.train(progress=progress)
    if not main:
        return
    with trainer.ema.applied() if trainer.ema is not None else contextlib.nullcontext():
        after = sample_grid(trainer, folder / f"samples-step-{trainer.step_index:06d}.png")
    alarms = trainer.monitor.alarms
    reward_curve(history, curve_path, title=f"GRPO run {trainer.run_id}: mean reward per step", alarms=alarms)
    files = {"curve": curve_path, "samples_before": before, "samples_after": after}
    _print_training(trainer.run_id, history, alarms, files, as_json)


def _print_training(
    run_id: str, history: list[dict], alarms: list[dict], files: dict[str, Path], as_json: bool
) -> None:
    """A finished run: the reward's first and last mean, the curve and sample grids, the share of step
    time spent waiting for rewards, and any gaming alarm."""
    if as_json:
        paths = {k: str(v) for k, v in files.items()}
        print(json.dumps({"run_id": run_id, "history": history, "alarms": alarms, **paths}, indent=2))
        return
    for alarm in alarms:
        err.print(f"gaming alarm at step {alarm['step']}: {alarm['alarm']}", highlight=False, markup=False)
    first, last = history[0]["reward_mean"], history[-1]["reward_mean"]
    waited = sum(h.get("reward_wait_s", 0.0) for h in history) / max(sum(h.get("step_s", 0.0) for h in history), 1e-9)
    print(
        f"{len(history)} steps: mean reward {first:.3f} → {last:.3f}; curve {files['curve']}; "
        f"samples before {files['samples_before'].name} and after {files['samples_after'].name}; {waited:.0%} of "
        f"step time waiting for rewards; run {run_id}"
    )


@app.command("serve")
@one_line_errors
def serve_cmd(
    model: Annotated[str, typer.Argument(help="Model folder (or name) for vLLM.")],
    gpus: Annotated[
        Optional[str], typer.Option(help="GPU indices, e.g. 0,1,2,3 (default: all nvidia-smi lists).")
    ] = None,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel size per server.")] = 1,
    port: Annotated[int, typer.Option(help="Port of the first server; the others follow.")] = 8000,
    served_model_name: Annotated[
        Optional[str], typer.Option(help="Name clients ask for (default: the model folder's name).")
    ] = None,
    vllm: Annotated[str, typer.Option(help="vLLM's executable, in its own environment.")] = "vllm",
    max_model_len: Annotated[int, typer.Option(help="Context length.")] = 32768,
    images_per_prompt: Annotated[int, typer.Option(help="--limit-mm-per-prompt image count.")] = 16,
    gpu_memory_utilization: Annotated[float, typer.Option(help="Share of GPU memory vLLM may take.")] = 0.85,
    tool_parser: Annotated[
        Optional[str], typer.Option(help="vLLM tool-call parser (default: the model family's).")
    ] = None,
    family: Annotated[
        Optional[str],
        typer.Option(
            help="Model family for vLLM's flags: qwen2.5-vl, qwen3-vl, glm-4.5v, ... (default: from the name)."
        ),
    ] = None,
    health_timeout: Annotated[float, typer.Option(help="Seconds to wait for every /health.")] = 900.0,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the vLLM command lines (one per server) and start nothing."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start one vLLM server per GPU (or tensor-parallel group) and keep them running."""
    from scrutiny.serve import ServeConfig, ServeError, serve, visible_gpus

    indices = [int(g) for g in gpus.split(",")] if gpus else visible_gpus()
    config = ServeConfig(
        model=model,
        gpus=indices,
        served_model_name=served_model_name or "",
        tensor_parallel=tp,
        port=port,
        max_model_len=max_model_len,
        images_per_prompt=images_per_prompt,
        gpu_memory_utilization=gpu_memory_utilization,
        tool_parser=tool_parser,
        family=family,
        vllm=vllm,
        health_timeout_s=health_timeout,
    )
    if dry_run:
        _print_plan(config.plan(), as_json)
        return
    try:
        serve(config, say=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True))
    except ServeError as e:
        raise ValueError(str(e)) from None


@app.command("serve-judge")
@one_line_errors
def serve_judge_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on (not loopback: --token is needed).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    token: Annotated[
        Optional[str], typer.Option(envvar="SCRUTINY_SERVICE_TOKEN", help="Bearer token clients must send.")
    ] = None,
    max_items: Annotated[int, typer.Option(help="Images in one request.")] = 256,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    ray: Annotated[
        Optional[str],
        typer.Option(help="Serve on Ray Serve: 'local' (Ray on this machine) or a cluster's address ('auto')."),
    ] = None,
    replicas: Annotated[int, typer.Option(help="Judge replicas on Ray Serve.")] = 2,
    autoscale: Annotated[
        Optional[str], typer.Option(metavar="LEAST:MOST", help="Let Ray Serve scale the replicas between these.")
    ] = None,
) -> None:
    """Serve rewards over HTTP for trainers on other machines (`remote_reward(URL)` in the trainer):
    POST /v1/score, GET /health, GET /metrics. One process, or replicas on Ray Serve (--ray)."""
    from scrutiny.distributed import JudgeSpec
    from scrutiny.trainers.service import JudgeService, ServiceLimits, loopback

    judge = JudgeSpec(backend=backend, model=model, config={"unchecked": "omit", "keep": "sampled"})
    limits = ServiceLimits(max_items=max_items)
    if token is None and not loopback(host):
        raise ValueError(f"a judge service on {host} (not loopback) needs a bearer token: pass --token")
    if ray is not None:
        if replicas < 1:
            raise ValueError(f"--replicas must be at least 1, got {replicas}")
        _serve_on_ray(judge, limits, token, ray, host, port, replicas, _bounds(autoscale))
        return
    from scrutiny.trainers.rewards import JudgeReward

    service = JudgeService(JudgeReward(judge=judge.build()), host=host, port=port, token=token, limits=limits)
    err.print(f"judge service at {service.url} (POST /v1/score, GET /health, GET /metrics)", highlight=False)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        service.stop()


def _bounds(autoscale: str | None) -> tuple[int, int] | None:
    if autoscale is None:
        return None
    least, _, most = autoscale.partition(":")
    if not (least.isdigit() and most.isdigit() and 0 < int(least) <= int(most)):
        raise ValueError(f"--autoscale takes LEAST:MOST replicas (1 <= LEAST <= MOST), got {autoscale!r}")
    return int(least), int(most)


def _serve_on_ray(judge, limits, token, address, host, port, replicas, autoscale) -> None:
    """The judge service on Ray Serve, until Ctrl-C."""
    import time

    try:
        from scrutiny.trainers import ray_service
    except ModuleNotFoundError:
        raise ValueError("--ray needs Ray Serve: pip install 'scrutiny[ray]'") from None
    spec = ray_service.ServiceSpec(judge=judge, token=token, limits=limits)
    url = ray_service.start(spec, address=address, host=host, port=port, replicas=replicas, autoscale=autoscale)
    scale = f"{autoscale[0]} to {autoscale[1]} replicas" if autoscale else f"{replicas} replica{'s' * (replicas != 1)}"
    err.print(f"judge service on Ray Serve at {url}, {scale} (Ctrl-C stops it)", highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()


def _print_plan(plan: list[dict], as_json: bool) -> None:
    """The vLLM command lines `serve` would run, one per server."""
    import shlex

    if as_json:
        print(json.dumps(plan, indent=2))
        return
    for server in plan:
        print(f"CUDA_VISIBLE_DEVICES={','.join(map(str, server['gpus']))} {shlex.join(server['command'])}")


@app.command("view")
@one_line_errors
def view_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless you mean to share.")
    ] = "127.0.0.1",
    allow_host: Annotated[
        Optional[list[str]],
        typer.Option(help="A host name the viewer may be reached by besides loopback (repeatable), e.g. a LAN name."),
    ] = None,
) -> None:
    """Browse traces in a local web viewer (Ctrl-C stops it)."""
    from scrutiny.viewer import make_server

    try:
        server = make_server(Store(), host, port, tuple(allow_host or ()))
    except OSError as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror}; pick another --port") from None
    err.print(f"scrutiny viewer on http://{host}:{server.server_address[1]} (Ctrl-C to stop)", markup=False)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            server.serve_forever()
        finally:
            server.server_close()
