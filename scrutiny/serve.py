"""`scrutiny serve`: one vLLM OpenAI-compatible server per GPU (or per tensor-parallel group).

vLLM pins its own torch and transformers, so it lives in its own environment: pass the path of
its `vllm` executable with `--vllm`. Each server is started with the flags a vision-language
judge needs (https://docs.vllm.ai/en/latest/cli/serve.html); scrutiny waits for every `/health`, writes the endpoints
file the backend reads (`$SCRUTINY_HOME/endpoints.json`), watches the servers, reports one that
dies (with the end of its log) and stops every process it started on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scrutiny.memory import default_home


class ServeError(RuntimeError):
    """A server could not start or died; the message says which and shows its log's end."""


def endpoints_file() -> Path:
    return default_home() / "endpoints.json"


@dataclass
class ServeConfig:
    model: str
    """Model path (a local folder: nothing is downloaded) or name as vLLM takes it."""
    gpus: list[int]
    served_model_name: str = ""
    tensor_parallel: int = 1
    port: int = 8000
    max_model_len: int = 32768
    images_per_prompt: int = 16
    gpu_memory_utilization: float = 0.85
    tool_parser: str | None = None
    """vLLM's tool-call parser; None: the model family's (`agents.families`)."""
    family: str | None = None
    """The model family whose flags to pass (tool and reasoning parsers, pixel budget); None: from the
    model's name, generic where no family matches."""
    vllm: str = "vllm"
    health_timeout_s: float = 900.0
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.gpus:
            raise ValueError("no GPUs to serve on: pass --gpus 0,1,... (or run where nvidia-smi lists GPUs)")
        if self.tensor_parallel < 1 or len(self.gpus) % self.tensor_parallel:
            raise ValueError(
                f"{len(self.gpus)} GPUs cannot be split into tensor-parallel groups of {self.tensor_parallel}"
            )
        self.served_model_name = self.served_model_name or Path(self.model).name or self.model

    def groups(self) -> list[list[int]]:
        tp = self.tensor_parallel
        return [self.gpus[i : i + tp] for i in range(0, len(self.gpus), tp)]

    def command(self, port: int) -> list[str]:
        return [
            self.vllm,
            "serve",
            self.model,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--served-model-name",
            self.served_model_name,
            "--max-model-len",
            str(self.max_model_len),
            "--limit-mm-per-prompt",
            json.dumps({"image": self.images_per_prompt}),
            "--enable-prefix-caching",
            "--gpu-memory-utilization",
            str(self.gpu_memory_utilization),
            "--tensor-parallel-size",
            str(self.tensor_parallel),
            *self.family_args(),
            *self.extra_args,
        ]

    def family_args(self) -> list[str]:
        """The family's flags, with `tool_parser` in place of the family's where given."""
        from scrutiny.agents.families import family_for, family_named

        family = family_named(self.family) if self.family else family_for(self.served_model_name or self.model)
        args = family.serve_args()
        if self.tool_parser is None:
            return args
        if "--tool-call-parser" in args:
            args[args.index("--tool-call-parser") + 1] = self.tool_parser
            return args
        return ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_parser, *args]

    def plan(self) -> list[dict]:
        """Every server this config starts: its GPUs, port and command line (what `--dry-run` prints)."""
        return [
            {"gpus": group, "port": self.port + k, "command": self.command(self.port + k)}
            for k, group in enumerate(self.groups())
        ]


def visible_gpus() -> list[int]:
    """GPU indices `nvidia-smi -L` lists; empty where there is none."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [i for i, line in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


@dataclass
class Server:
    gpus: list[int]
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Fleet:
    """The servers of one `scrutiny serve`: start, wait, watch, stop."""

    def __init__(self, config: ServeConfig, say: Callable[[str], None] = print):
        self.config = config
        self.say = say
        self.servers: list[Server] = []
        self.logs = default_home() / "serve"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for k, group in enumerate(self.config.groups()):
            port = self.config.port + k
            log = self.logs / f"server_{k}.log"
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, group))}
            try:
                process = subprocess.Popen(
                    self.config.command(port),
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as e:
                self.stop()
                raise ServeError(
                    f"cannot run {self.config.vllm!r}: {e.strerror}; pass --vllm with the path of vLLM's executable"
                ) from None
            self.servers.append(Server(group, port, process, log))
            self.say(f"server {k} on GPU {','.join(map(str, group))}: port {port}, log {log}")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.health_timeout_s
        pending = list(self.servers)
        while pending:
            self.check()
            pending = [s for s in pending if not _healthy(s.url)]
            if pending and time.monotonic() > deadline:
                raise ServeError(
                    f"server on port {pending[0].port} was not healthy after {self.config.health_timeout_s:.0f} s:\n{pending[0].tail()}"
                )
            if pending:
                time.sleep(0.25)
        path = endpoints_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"model": self.config.served_model_name, "endpoints": [s.url for s in self.servers]}, indent=2)
        )
        self.say(f"ready: {len(self.servers)} server(s); endpoints written to {path}")

    def check(self) -> None:
        for k, s in enumerate(self.servers):
            code = s.process.poll()
            if code is not None:
                raise ServeError(
                    f"server {k} on GPU {','.join(map(str, s.gpus))} (port {s.port}) exited with code {code}:\n{s.tail()}"
                )

    def watch(self, interval_s: float = 1.0) -> None:
        while True:
            self.check()
            time.sleep(interval_s)

    def stop(self) -> None:
        for s in self.servers:
            if s.process.poll() is None:
                os.killpg(s.process.pid, signal.SIGTERM)
        for s in self.servers:
            try:
                s.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(s.process.pid, signal.SIGKILL)
                s.process.wait()
        path = endpoints_file()
        if path.exists() and self.servers:
            path.unlink()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the fleet like Ctrl-C


def serve(config: ServeConfig, say: Callable[[str], None] = print) -> None:
    """Start, wait for health, then watch until Ctrl-C/SIGTERM or a server dies; always stop all."""
    fleet = Fleet(config, say)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        fleet.start()
        fleet.wait_healthy()
        fleet.watch()
    except KeyboardInterrupt:
        say("stopping servers")
    finally:
        fleet.stop()
        signal.signal(signal.SIGTERM, previous)
