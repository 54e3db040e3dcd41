"""Shared fixtures. Tests never reach the network or a model hub."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from scrutiny.memory import Store

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The public test material laid beside the checkout (`../shared/data`)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store.memory(tmp_path)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _scrutiny_home(tmp_path, monkeypatch):
    """Every test gets its own SCRUTINY_HOME: nothing is written to the user's real store."""
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRUTINY_DB_URL", raising=False)


@pytest.fixture(autouse=True)
def _fresh_tool_results():
    """Every test starts without the tool results an earlier test kept (a test that swaps an engine
    must see its own engine's answers)."""
    from scrutiny.tools.base import RESULTS

    RESULTS.forget()


def _postgres_binary(name: str) -> str | None:
    import glob

    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server (Debian's `postgresql` binaries: `initdb` and `pg_ctl` in a
    temporary folder, on a free port, trust auth on 127.0.0.1), stopped and removed after the session.
    Yields a function making a fresh, empty database and returning its SQLAlchemy URL."""
    import os
    import socket
    import subprocess
    import tempfile
    import uuid

    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
    psycopg = pytest.importorskip("psycopg", reason="the [postgres] extra (psycopg 3) is not installed")
    root = Path(tempfile.mkdtemp(prefix="scrutiny-pg-"))
    run_as = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's postgres user
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    quiet = {"check": True, "capture_output": True}
    subprocess.run([*run_as, initdb, "-D", str(data), "--auth=trust", "-U", "scrutiny", "--no-sync"], **quiet)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    start = [*run_as, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]
    subprocess.run(start, **quiet)
    admin = f"host=127.0.0.1 port={port} user=scrutiny dbname=postgres"

    def database() -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://scrutiny@127.0.0.1:{port}/{name}"

    try:
        yield database
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _unfreeze_gc():
    """The CLI's batch commands freeze what is alive (`scrutiny.core.aio.freeze_gc`); a test process goes on
    after them, so each test hands those objects back to the collector."""
    yield
    gc.unfreeze()


def _tiny_sd_parts(in_channels: int = 4):
    """The parts of a Stable Diffusion pipeline at toy size, random weights, built from config."""
    pytest.importorskip("diffusers")
    from scrutiny.testing.pipelines import tiny_sd_parts

    return tiny_sd_parts(in_channels)


@pytest.fixture(scope="session")
def tiny_sd():
    diffusers = pytest.importorskip("diffusers")
    return diffusers.StableDiffusionPipeline(**_tiny_sd_parts())


@pytest.fixture(scope="session")
def tiny_pix2pix():
    diffusers = pytest.importorskip("diffusers")
    return diffusers.StableDiffusionInstructPix2PixPipeline(**_tiny_sd_parts(in_channels=8))


def _word_tokenizer(max_length: int):
    pytest.importorskip("transformers")
    from scrutiny.testing.pipelines import word_tokenizer

    return word_tokenizer(max_length)


@pytest.fixture
def fresh_accelerate():
    """accelerate keeps one state per process, fixed by the first Accelerator (TRL's tests set
    bf16): a GRPO test starts from a fresh one, so its trainer gets the precision it asks for."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture
def tiny_sd3():
    """A Stable Diffusion 3 pipeline at toy size (random weights, built from config, no hub)."""
    pytest.importorskip("diffusers")
    from scrutiny.testing.pipelines import tiny_sd3

    return tiny_sd3()


@pytest.fixture
def tiny_flux():
    """A FLUX.1 pipeline at toy size (random weights, built from config, no hub)."""
    pytest.importorskip("diffusers")
    from scrutiny.testing.pipelines import tiny_flux

    return tiny_flux()


CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def word_tokenizer():
    return _word_tokenizer(32)
