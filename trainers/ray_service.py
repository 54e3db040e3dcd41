"""The judge service on Ray Serve: the same HTTP protocol as `JudgeService`, answered by replicas.

    scrutiny serve-judge --ray local --replicas 2            # this machine; http://127.0.0.1:8600
    scrutiny serve-judge --ray auto --replicas 8 --host 0.0.0.0 --token $TOKEN   # a running cluster
    reward = remote_reward("http://head:8600", token=TOKEN)   # in the trainer, as for one service

Needs `pip install 'scrutiny[ray]'` (Ray Serve). Each replica builds its judge from a `JudgeSpec`, the
same spec the Ray Data path (`scrutiny judge --ray`) gives its actors: the offline policy, or the
model policy over the servers named by `--backend`. Ray Serve's proxy spreads requests over the
replicas, `autoscale=(least, most)` lets it add replicas as requests queue, and requests that arrive
together within `batch_wait_s` are judged as one batch (`serve.batch`), so a replica that waits on a
model server keeps more judgments in flight.

A replica that dies mid-request (killed, out of memory, its node lost) fails the requests it held;
Ray Serve starts another, and `RemoteReward` sends a failed request again (`retries`, with a pause
so the proxy can route around the dead replica): no request is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse

from scrutiny.distributed import JudgeSpec, start_ray
from scrutiny.trainers.rewards import JudgeReward
from scrutiny.trainers.service import RequestError, Scoring, ServiceLimits

APP = "scrutiny-judge"


@dataclass
class ServiceSpec:
    """What each replica builds its scoring from (a judge itself does not travel between processes)."""

    judge: JudgeSpec = field(default_factory=lambda: JudgeSpec(config={"unchecked": "omit", "keep": "sampled"}))
    reward: dict[str, Any] = field(default_factory=dict)
    """`JudgeReward` fields besides the judge (guards, concurrency, duplicates)."""
    token: str | None = None
    limits: ServiceLimits = field(default_factory=ServiceLimits)

    def build(self) -> Scoring:
        return Scoring(JudgeReward(judge=self.judge.build(), **self.reward), self.token, self.limits)


class JudgeReplica:
    """One replica: a `Scoring`, and the requests Ray Serve's proxy hands it."""

    def __init__(self, spec: ServiceSpec, batch_size: int, batch_wait_s: float) -> None:
        from scrutiny.core.malloc import limit_arenas

        limit_arenas()  # the replica's process is scrutiny's: fewer malloc arenas for its judging threads
        self.scoring = spec.build()
        self._batched.set_max_batch_size(batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_s)

    async def __call__(self, request: Request):
        self.scoring.count(requests=1)
        try:
            return await self._route(request)
        except Exception as e:  # noqa: BLE001 - one clear answer, as from JudgeService
            status, body = self.scoring.failed(e)
            return JSONResponse(body, status_code=status)

    async def _route(self, request: Request):
        path, method = request.url.path.rstrip("/") or "/", request.method
        if method == "GET" and path == "/health":
            return JSONResponse(self.scoring.health())
        if method == "GET" and path == "/metrics":
            return PlainTextResponse(self.scoring.metrics())
        if method != "POST" or path != "/v1/score":
            raise RequestError(404, f"no {method} {path}: GET /health, GET /metrics, POST /v1/score")
        self.scoring.authorise(request.headers.get("authorization"))
        self.scoring.length(request.headers.get("content-length"))
        return JSONResponse(await self._batched(self.scoring.parse(await request.body())))

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def _batched(self, bodies: list[dict]) -> list[dict]:
        """Requests that arrived together, judged at once (each answered alone: a bad one fails alone)."""
        answers = await asyncio.gather(*(self.scoring.ascore(b) for b in bodies), return_exceptions=True)
        return [_raise(a) if isinstance(a, BaseException) else a for a in answers]


def _raise(error: BaseException):
    raise error


def judge_application(
    spec: ServiceSpec | None = None,
    *,
    replicas: int = 2,
    autoscale: tuple[int, int] | None = None,
    batch_size: int = 4,
    batch_wait_s: float = 0.01,
    cpus_per_replica: float = 1.0,
    max_ongoing: int = 16,
):
    """The Ray Serve application (`serve.run` it): `replicas` judges, or between `autoscale`'s bounds,
    each holding at most `max_ongoing` requests (Ray Serve queues the rest)."""
    options: dict[str, Any] = {"ray_actor_options": {"num_cpus": cpus_per_replica}, "max_ongoing_requests": max_ongoing}
    if autoscale is not None:
        least, most = autoscale
        options["autoscaling_config"] = {"min_replicas": least, "max_replicas": most, "target_ongoing_requests": 2}
    else:
        options["num_replicas"] = replicas
    deployment = serve.deployment(name="judge", **options)(JudgeReplica)
    return deployment.bind(spec or ServiceSpec(), batch_size, batch_wait_s)


def start(
    spec: ServiceSpec | None = None, *, address: str = "local", host: str = "127.0.0.1", port: int = 8600, **options
) -> str:
    """Start (or join) Ray and Serve, run the judge application; its URL. `options`: `judge_application`'s."""
    start_ray(address, 2 * options.get("replicas", 2))
    serve.start(http_options={"host": host, "port": port})
    serve.run(judge_application(spec, **options), name=APP, route_prefix="/")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def replica_names() -> list[str]:
    """The Ray actor names of the judge's live replicas (for tests and operators: `ray.kill` one)."""
    import ray

    names = ray.util.list_named_actors(all_namespaces=True)
    return sorted(a["name"] for a in names if a["name"].startswith("SERVE_REPLICA::") and f"{APP}#judge" in a["name"])
