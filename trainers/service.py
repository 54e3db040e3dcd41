"""A judge service: rewards over HTTP, so a trainer's reward can run on other machines.

    scrutiny serve judge --port 8600                     # loopback; --host 0.0.0.0 needs --token
    reward = remote_reward("http://judge-1:8600", "http://judge-2:8600", token=TOKEN)
    reward_fn = flow_grpo_reward(reward)                 # wherever a JudgeReward goes

The service wraps a `JudgeReward` (offline policy by default) and answers:

- `POST /v1/score`: `{"items": [{"image": BASE64 PNG, JPEG, PPM or WEBP, "prompt": STR, "metadata": {...}}]}` →
  `{"scores": [FLOAT or null], "verdicts": [compact verdict]}`: per item a score (null: abstained,
  with the reason in its verdict's `error`) and the compact verdict (scores by criterion id, trace id).
  An item whose image is corrupt or too large abstains alone; the rest of the batch is judged.
- `GET /health`: `{"ok": true, ...}`; `GET /metrics`: Prometheus text (requests, images,
  abstentions, errors, seconds judging).

Bad requests get one JSON error each (`{"error": "..."}`: 400 malformed, 401 without the token, 404,
411 without a length, 413 too large). The service listens on loopback unless given a bearer token.
`RemoteReward` spreads each batch over the replicas it is given, retries a failed call on the next
replica, and where no replica answers, the batch abstains (NaN: its group's mean), never fails.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import ipaddress
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import numpy as np

from scrutiny.api import compact
from scrutiny.core.aio import block_on
from scrutiny.core.images import ImageError, fast_png, load_image
from scrutiny.core.schema import Task, Verdict
from scrutiny.trainers.rewards import JudgeReward, as_items, scores_of


@dataclass
class ServiceLimits:
    max_body: int = 64 * 2**20
    """Bytes in one request body."""
    max_items: int = 256
    """Images in one request."""
    max_pixels: int = 4096 * 4096
    """Pixels in one image (a larger one abstains alone)."""
    read_timeout_s: float = 30.0
    """How long a client may take to send its request."""


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Scoring:
    """What a judge service does with a request, whatever serves it (`JudgeService` here, the Ray Serve
    deployment in `ray_service`): check the token and the body, decode, judge, count."""

    def __init__(self, reward: JudgeReward | None, token: str | None, limits: ServiceLimits | None):
        self.reward, self.token, self.limits = reward or JudgeReward(), token, limits or ServiceLimits()
        self.counts = {"requests": 0, "images": 0, "abstained": 0, "errors": 0, "seconds": 0.0}
        self._lock = threading.Lock()

    def count(self, **added: float) -> None:
        with self._lock:
            for key, value in added.items():
                self.counts[key] += value

    def authorise(self, given: str | None) -> None:
        """`given`: the request's Authorization header."""
        if self.token is not None and not hmac.compare_digest((given or "").encode(), f"Bearer {self.token}".encode()):
            raise RequestError(401, "a bearer token is needed: Authorization: Bearer TOKEN")

    def length(self, given: str | None) -> int:
        """The body's declared length (the Content-Length header), checked before the body is read."""
        if not (given or "").isdigit():
            raise RequestError(411, "a Content-Length (digits) is needed")
        if int(given) > self.limits.max_body:
            raise RequestError(413, f"the body is {int(given)} bytes; at most {self.limits.max_body}")
        return int(given)

    @staticmethod
    def parse(data: bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise RequestError(400, f"the body is not JSON: {e}") from None

    async def ascore(self, body: dict) -> dict:
        """A parsed `/v1/score` body → the response body."""
        items = _items(body, self.limits.max_items)
        images = await asyncio.to_thread(lambda: [_decode(item["image"], self.limits.max_pixels) for item in items])
        prompts = [item["prompt"] for item in items]
        metadata = [item.get("metadata") or {} for item in items]
        started = time.perf_counter()
        verdicts = await self.reward.ascore(images, prompts, metadata)
        scores = [None if np.isnan(s) else float(s) for s in scores_of(verdicts)]
        self.count(images=len(items), abstained=scores.count(None), seconds=time.perf_counter() - started)
        return {"scores": scores, "verdicts": [compact(v).model_dump(mode="json") for v in verdicts]}

    def health(self) -> dict:
        return {"ok": True, "policy": self.reward.judge.policy.name}

    def metrics(self) -> str:
        """The counts in Prometheus's text format (every one a counter)."""
        with self._lock:
            counts = dict(self.counts)
        return "".join(f"# TYPE scrutiny_{k}_total counter\nscrutiny_{k}_total {v}\n" for k, v in counts.items())

    def failed(self, e: Exception) -> tuple[int, dict]:
        """The one JSON error a request gets for `e` (a `RequestError`'s status, else 500)."""
        self.count(errors=1)
        if isinstance(e, RequestError):
            return e.status, {"error": str(e)}
        return 500, {"error": f"{type(e).__name__}: {e}".splitlines()[0]}


class JudgeService:
    """The HTTP server around a `JudgeReward` (see the module docstring)."""

    def __init__(
        self,
        reward: JudgeReward | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8600,
        token: str | None = None,
        limits: ServiceLimits | None = None,
    ):
        if token is None and not loopback(host):
            raise ValueError(f"a judge service on {host} (not loopback) needs a bearer token: pass --token")
        self.scoring = Scoring(reward, token, limits)
        self.server = ThreadingHTTPServer((host, port), _handler(self.scoring))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> JudgeService:
        """Serve from a background thread (tests, notebooks); `serve_forever` serves in this one."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="judge-service", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _items(body: Any, most: int) -> list[dict]:
    """The request's items, each checked: an image (a string) and a prompt (a string)."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise RequestError(400, 'the body must be {"items": [{"image": BASE64, "prompt": TEXT}, ...]}')
    if len(items) > most:
        raise RequestError(413, f"{len(items)} items in one request; at most {most}")
    for k, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            raise RequestError(400, f"item {k}: 'image' must be a base64 string of PNG, JPEG, PPM or WEBP bytes")
        if not isinstance(item.get("prompt"), str):
            raise RequestError(400, f"item {k}: 'prompt' must be a string")
        if not isinstance(item.get("metadata") or {}, dict):
            raise RequestError(400, f"item {k}: 'metadata' must be an object")
    return items


FORMATS = ("PNG", "JPEG", "PPM", "WEBP")
"""The image formats the service reads: no other of Pillow's decoders sees bytes from the network."""


def _decode(data: str, max_pixels: int):
    """An item's image, or its `ImageError` (the item abstains; the batch goes on)."""
    try:
        return load_image(base64.b64decode(data, validate=True), limit=max_pixels, formats=FORMATS)
    except ImageError as e:
        return e
    except ValueError as e:  # not base64
        return ImageError(f"the image is not base64: {e}")


class _Handler(BaseHTTPRequestHandler):
    """One request to the service (`scoring` is set on a subclass per server, by `_handler`)."""

    scoring: Scoring
    server_version = "scrutiny-judge"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are counted in /metrics, not printed

    def do_GET(self) -> None:  # http.server's name
        self._answer(self._get)

    def do_POST(self) -> None:  # http.server's name
        self._answer(self._post)

    def _get(self):
        if self.path == "/health":
            return 200, self.scoring.health()
        if self.path == "/metrics":
            return 200, self.scoring.metrics()
        raise RequestError(404, f"no {self.path}: GET /health, GET /metrics, POST /v1/score")

    def _post(self):
        if self.path != "/v1/score":
            raise RequestError(404, f"no {self.path}: POST /v1/score")
        self.scoring.authorise(self.headers.get("Authorization"))
        body = self.scoring.parse(self.rfile.read(self.scoring.length(self.headers.get("Content-Length"))))
        return 200, block_on(self.scoring.ascore(body))

    def _answer(self, handle) -> None:
        self.scoring.count(requests=1)
        try:
            status, body = handle()
        except Exception as e:  # noqa: BLE001 - one clear answer, never a dropped connection
            status, body = self.scoring.failed(e)
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _handler(scoring: Scoring) -> type[BaseHTTPRequestHandler]:
    """The request handler of one service (a client has `read_timeout_s` to send its request)."""
    return type("Handler", (_Handler,), {"scoring": scoring, "timeout": scoring.limits.read_timeout_s})


# the client


@dataclass
class RemoteReward:
    """A judge service's rewards, with `JudgeReward`'s `ascore` and `score`: the Flow-GRPO, TRL and
    verl adapters and `GRPOTrainer` take it as they take a `JudgeReward`."""

    urls: list[str]
    token: str | None = None
    name: str = "scrutiny"
    timeout_s: float = 300.0
    retries: int = 2
    """Further tries of a failed call, each on the next replica."""
    pause_s: float = 1.0
    """Wait before trying a replica again (once every replica has failed this call; longer each time),
    so a proxy in front of several replicas (Ray Serve) can route around one that died."""
    batch: int = 8
    """Items per request: a trainer's batch goes as several requests at once, spread over the replicas,
    so encoding one overlaps judging another."""
    image_format: Literal["ppm", "png"] = "ppm"
    """How images travel: "ppm" (raw pixels, cheapest to write and read) or "png" (half the bytes, for
    a slow link between the trainer and the service)."""
    retried: int = 0
    """Calls tried again (a replica failed or did not answer), over this reward's life."""
    _next: int = field(default=0, repr=False)

    async def ascore(
        self, images: Any, prompts: Sequence[str], metadata: Sequence[dict] | None = None, *, duplicates=None
    ) -> list[Verdict]:
        """One verdict per image (compact: scores by criterion id), judged by the service; a batch no
        replica answers abstains. A prompt's group always travels in one request, so the service gates
        near-copies within the group as the reward in process does."""
        items = await asyncio.to_thread(as_items, images)
        if len(items) != len(prompts):
            raise ValueError(f"got {len(items)} images but {len(prompts)} prompts")
        metas = list(metadata) if isinstance(metadata, Sequence) else [metadata or {}] * len(items)
        chunks = _chunks(list(prompts), self.batch)
        first, self._next = self._next, self._next + len(chunks)  # chunk k starts on replica first + k
        done = await asyncio.gather(
            *(
                asyncio.to_thread(self._send, [(items[i], prompts[i], metas[i]) for i in c], first + k)
                for k, c in enumerate(chunks)
            )
        )
        verdicts: list[Verdict] = [None] * len(items)  # back in the batch's order
        for chunk, part in zip(chunks, done):
            for k, verdict in zip(chunk, part):
                verdicts[k] = verdict
        return verdicts

    def score(self, images: Any, prompts: Sequence[str], metadata: Sequence[dict] | None = None) -> np.ndarray:
        return scores_of(block_on(self.ascore(images, prompts, metadata)))

    def _send(self, jobs: list[tuple], first: int) -> list[Verdict]:
        """One request, tried on the replicas in turn from `first`; the verdicts, or abstentions saying why."""
        body = json.dumps({"items": [_item(*job, self.image_format) for job in jobs]}).encode()
        problem = "no replica was tried"
        for attempt in range(1 + self.retries):
            url = self.urls[(first + attempt) % len(self.urls)]
            self.retried += attempt > 0
            if attempt >= len(self.urls):
                time.sleep(self.pause_s * (attempt - len(self.urls) + 1))
            try:
                answer = self._post(url, body)
                return [Verdict.model_validate(v) for v in answer["verdicts"]]
            except urllib.error.HTTPError as e:
                problem = f"{url}: {e.code} {_error_of(e)}"
                if e.code < 500:  # the request is wrong, and no replica will take it
                    break
            except (OSError, ValueError, KeyError) as e:
                problem = f"{url}: {type(e).__name__}: {e}"
        return [_abstained(prompt, f"the judge service did not answer ({problem})") for _, prompt, _ in jobs]

    def _post(self, url: str, body: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{url.rstrip('/')}/v1/score", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read())


def _chunks(prompts: list[str], size: int) -> list[list[int]]:
    """Indices in requests of about `size` items, never splitting the items of one prompt."""
    groups: dict[str, list[int]] = {}
    for k, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(k)
    chunks: list[list[int]] = [[]]
    for group in groups.values():
        if chunks[-1] and len(chunks[-1]) + len(group) > size:
            chunks.append([])
        chunks[-1] += group
    return [c for c in chunks if c]


def remote_reward(*urls: str, token: str | None = None, **options: Any) -> RemoteReward:
    """A reward judged by the judge services at `urls` (replicas; see the module docstring)."""
    if not urls:
        raise ValueError("remote_reward needs the URL of at least one judge service")
    return RemoteReward(list(urls), token=token, **options)


def _item(image, prompt: str, metadata: dict | None, image_format: str = "ppm") -> dict:
    """An item as the service reads it: the image as base64 PPM or PNG (an unreadable one as empty, to
    abstain). Both are lossless; PPM is the raw pixels behind a short header: written in about 1 ms for
    512 px where PNG takes 25 (at its fastest compression) and read in a tenth of PNG's time, at twice
    PNG's bytes, which a network between machines carries in well under PNG's encoding time."""
    data = b""
    if not isinstance(image, Exception):
        if image_format == "png":
            data = fast_png(image)
        else:
            buffer = io.BytesIO()
            image.save(buffer, format="PPM")
            data = buffer.getvalue()
    return {"image": base64.b64encode(data).decode(), "prompt": prompt, "metadata": metadata or {}}


def _error_of(e: urllib.error.HTTPError) -> str:
    try:
        return json.loads(e.read()).get("error", "")
    except (ValueError, OSError, AttributeError):
        return ""


def _abstained(prompt: str, reason: str) -> Verdict:
    task = Task(kind="score", prompt=prompt or "(empty)", candidates=["unjudged"])
    return Verdict(task=task, scores=[None], critique=f"abstained: {reason}", error=reason, policy="remote")
