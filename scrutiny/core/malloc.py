"""Fewer malloc arenas in scrutiny's own processes.

glibc gives each thread that allocates its own arena (up to eight per core), and memory freed in one
stays with it. A judgment runs its tools in worker threads, each of which allocates image-sized
arrays, so a process's resident memory grows by an arena's worth per thread that judged a large
image, well beyond what is live at once: one judgment of a 1024-pixel photo added 26-30 MB of
resident memory where its arrays peak at 13 MB (`tracemalloc`). With two arenas it added 7 MB, and
at 2048 pixels 30 MB instead of 55 MB, in less time (`benchmarks/reward_scale.py`).

`limit_arenas` is called where scrutiny owns the process: its command line (hence `scrutiny
serve-judge` and `scrutiny batch`), the Ray Serve replicas and the Ray Data actors. A library user can
do the same in theirs, or set `MALLOC_ARENA_MAX=2` in its environment. Off glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8
"""glibc's `mallopt` parameter for the most arenas."""
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; whether it took effect (False off
    glibc, or where the environment already sets `MALLOC_ARENA_MAX`, which wins)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:  # the C library this process already runs on (`find_library` would start a subprocess to look)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
