"""The judge service on Ray Serve, on a local Ray: two replicas answer as the reward in process does,
a token and bad requests are handled as by the one-process service, and a replica killed mid-batch
loses no request."""

import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("ray.serve")

from scrutiny import Judge, JudgeConfig  # noqa: E402
from scrutiny.distributed import JudgeSpec  # noqa: E402
from scrutiny.testing.scenes import storefront  # noqa: E402
from scrutiny.trainers.rewards import JudgeReward  # noqa: E402
from scrutiny.trainers.service import remote_reward  # noqa: E402

pytestmark = pytest.mark.slow  # Ray, Serve and two replicas: about a minute

CONFIG = {"cache": False, "unchecked": "omit"}
WORDS = ["OPEN", "OPNE", "BOOKS", "BOKS", "CAFE", "CAEF", "SALE", "SLAE"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import ray
    from ray import serve

    from scrutiny.trainers import ray_service

    patch = pytest.MonkeyPatch()
    patch.setenv("SCRUTINY_HOME", str(tmp_path_factory.mktemp("home")))  # the replicas' store, passed on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = ray_service.ServiceSpec(judge=JudgeSpec(config=CONFIG), token="s3cret")
    url = ray_service.start(spec, port=port, replicas=2)
    yield url
    serve.shutdown()
    ray.shutdown()
    patch.undo()


def _batch(n: int):
    prompts = [f'A sign that says "{WORDS[(k // 2) % len(WORDS)]}"' for k in range(n)]
    images = [storefront(WORDS[k % len(WORDS)], size=384, seed=k) for k in range(n)]
    return images, prompts


def test_two_replicas_score_what_the_reward_scores_in_process(served, store):
    images, prompts = _batch(8)
    here = JudgeReward(judge=Judge(store=store, config=JudgeConfig(**CONFIG))).score(images, prompts)
    remote = remote_reward(served, token="s3cret", batch=2)
    assert np.allclose(remote.score(images, prompts), here)
    assert len({v.trace_id for v in remote_verdicts(remote, images, prompts)}) == 8  # judged, each its own


def test_the_token_and_bad_requests_are_answered_as_by_one_process(served):
    with urllib.request.urlopen(f"{served}/health", timeout=30) as response:
        assert b'"ok":true' in response.read().replace(b" ", b"")
    for headers, body, status in [
        ({}, b'{"items": []}', 401),
        ({"Authorization": "Bearer s3cret"}, b"{not json", 400),
        ({"Authorization": "Bearer s3cret"}, b'{"items": [{"image": 3, "prompt": "x"}]}', 400),
    ]:
        request = urllib.request.Request(f"{served}/v1/score", data=body, headers=headers, method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == status and b'"error"' in error.value.read()


def test_a_replica_killed_mid_batch_loses_no_request(served, store):
    import ray

    from scrutiny.trainers.ray_service import replica_names

    images, prompts = _batch(24)
    here = JudgeReward(judge=Judge(store=store, config=JudgeConfig(**CONFIG))).score(images, prompts)
    before = replica_names()
    assert len(before) == 2

    def kill_one():
        time.sleep(1.5)  # the batch is well under way: every replica holds requests
        ray.kill(ray.get_actor(before[0], namespace="serve"), no_restart=True)

    killer = threading.Thread(target=kill_one)
    killer.start()
    started = time.perf_counter()
    remote = remote_reward(served, token="s3cret", batch=2, retries=4)
    scores = remote.score(images, prompts)
    killer.join()
    assert remote.retried >= 1  # the dead replica's requests failed, and were sent again
    assert time.perf_counter() - started > 1.5  # the kill came before the batch was done
    assert np.allclose(scores, here)  # every request answered, none abstained
    deadline = time.monotonic() + 60
    while before[0] in replica_names() or len(replica_names()) < 2:  # Serve replaces the dead replica
        assert time.monotonic() < deadline
        time.sleep(0.5)


def remote_verdicts(remote, images, prompts):
    from scrutiny.core.aio import block_on

    return block_on(remote.ascore(images, prompts))
