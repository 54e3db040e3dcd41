"""Fewer malloc arenas where scrutiny owns the process."""

import os
import subprocess
import sys

import scrutiny.cli

PROBE = "from scrutiny.core.malloc import limit_arenas; print(limit_arenas())"


def test_arenas_are_capped_on_glibc_unless_the_environment_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(bool(glibc))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**env, "MALLOC_ARENA_MAX": "4"}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"  # the user's setting wins


def test_the_command_line_caps_them_before_anything_runs(monkeypatch):
    calls = []
    monkeypatch.setattr(scrutiny.cli, "limit_arenas", lambda: calls.append("arenas"))
    monkeypatch.setattr(scrutiny.cli, "app", lambda: calls.append("app"))
    scrutiny.cli.main()
    assert calls == ["arenas", "app"]
