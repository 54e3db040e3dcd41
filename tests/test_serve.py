"""`scrutiny serve` with a stand-in for vllm: the fake OpenAI-compatible server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from scrutiny.cli import app
from scrutiny.serve import ServeConfig
from scrutiny.testing.scenes import fitted_sign


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stand_in(tmp_path):
    """An executable that takes vllm's arguments and runs the fake server."""
    script = tmp_path / "vllm"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m scrutiny.testing.fake_server "$@"\n')
    script.chmod(0o755)
    return script


def start(args, home):
    env = {**os.environ, "SCRUTINY_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "scrutiny.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process, timeout=30):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, "servers did not become healthy"
        time.sleep(0.1)


def test_vllm_command_has_sound_flags():
    command = ServeConfig(model="/models/Qwen2.5-VL-7B", gpus=[0, 1, 2, 3], tensor_parallel=2).command(8001)
    assert command[:3] == ["vllm", "serve", "/models/Qwen2.5-VL-7B"]
    joined = " ".join(command)
    for flag in (
        "--served-model-name Qwen2.5-VL-7B",
        "--max-model-len 32768",
        '--limit-mm-per-prompt {"image": 16}',
        "--enable-prefix-caching",
        "--enable-auto-tool-choice",
        "--tool-call-parser hermes",
        "--tensor-parallel-size 2",
        "--port 8001",
    ):
        assert flag in joined
    assert ServeConfig(model="m", gpus=[0, 1, 2, 3], tensor_parallel=2).groups() == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="cannot be split"):
        ServeConfig(model="m", gpus=[0, 1, 2], tensor_parallel=2)
    with pytest.raises(ValueError, match="no GPUs"):
        ServeConfig(model="m", gpus=[])


@pytest.mark.slow
def test_serve_starts_one_server_per_gpu_writes_endpoints_and_stops_all(stand_in, tmp_path, monkeypatch):
    home = tmp_path / "home"
    port = free_port()
    process = start(["serve", "/models/judge-vl", "--gpus", "0,1", "--vllm", stand_in, "--port", port], home)
    endpoints = home / "endpoints.json"
    try:
        wait_for(endpoints, process)
        data = json.loads(endpoints.read_text())
        assert data == {
            "model": "judge-vl",
            "endpoints": [f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port + 1}/v1"],
        }
        # the judge uses them
        monkeypatch.setenv("SCRUTINY_HOME", str(home))
        image = tmp_path / "sign.png"
        fitted_sign("OPEN").save(image)
        result = CliRunner().invoke(app, ["judge", str(image), "-p", 'a sign "OPEN"', "--backend", "serve", "--json"])
        assert result.exit_code == 0, result.output
        verdict = json.loads(result.stdout)
        assert verdict["policy"] == "model" and verdict["model"] == "judge-vl"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    stderr = process.stderr.read()
    assert "stopping servers" in stderr and not endpoints.exists()
    for p in (port, port + 1):  # every server it started is gone
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_server_that_dies_is_reported_with_its_log(tmp_path):
    dying = tmp_path / "vllm"
    dying.write_text("#!/bin/sh\necho 'torch.OutOfMemoryError: CUDA out of memory'\nexit 3\n")
    dying.chmod(0o755)
    process = start(
        ["serve", "/models/judge-vl", "--gpus", "0", "--vllm", dying, "--port", free_port()], tmp_path / "home"
    )
    assert process.wait(timeout=30) == 2
    stderr = process.stderr.read()
    assert "server 0 on GPU 0" in stderr and "exited with code 3" in stderr and "CUDA out of memory" in stderr


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_missing_vllm_is_a_clear_error(tmp_path):
    process = start(
        ["serve", "m", "--gpus", "0", "--vllm", tmp_path / "nope", "--port", free_port()], tmp_path / "home"
    )
    assert process.wait(timeout=30) == 2 and "pass --vllm" in process.stderr.read()
