"""The judge service: rewards over HTTP from a real server on 127.0.0.1, the client that trainers use,
replicas and a replica that is down, and bad requests answered one line each."""

import base64
import http.client
import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import storefront
from scrutiny.trainers.flow_grpo import flow_grpo_reward
from scrutiny.trainers.rewards import JudgeReward
from scrutiny.trainers.service import JudgeService, ServiceLimits, remote_reward

SIGN = 'A sign that says "OPEN"'


@pytest.fixture
def service(store):
    reward = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit")))
    running = JudgeService(reward, port=0, token="s3cret", limits=ServiceLimits(max_items=4, max_body=8_000_000))
    yield running.start()
    running.stop()


def _png(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _post(url: str, body: bytes, token: str | None = "s3cret", path: str = "/v1/score"):
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow  # a real server and judgments: over 1 s
def test_the_service_scores_what_the_reward_scores_in_process(service, store):
    images = [storefront("OPEN"), storefront("OPNE", seed=1)]
    remote = remote_reward(service.url, token="s3cret")
    here = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit")))
    assert np.allclose(remote.score(images, [SIGN, SIGN]), here.score(images, [SIGN, SIGN]))
    as_png = remote_reward(service.url, token="s3cret", image_format="png")  # PPM by default: the same pixels
    assert np.allclose(as_png.score(images, [SIGN, SIGN]), here.score(images, [SIGN, SIGN]))
    mixed = [storefront("OPEN"), storefront("BOOKS", seed=2), storefront("OPNE", seed=1)]  # groups interleaved
    asked = [SIGN, 'A sign that says "BOOKS"', SIGN]
    assert np.allclose(
        remote_reward(service.url, token="s3cret", batch=2).score(mixed, asked), here.score(mixed, asked)
    )
    verdicts = block(remote, images)
    assert verdicts[0].trace_id and verdicts[0].criterion_scores  # compact: scores by criterion id
    scores, info = flow_grpo_reward(remote)(np.stack([np.asarray(im) for im in images]), [SIGN, SIGN], [{}, {}])
    assert len(scores) == 2 and scores[0] > scores[1]  # Flow-GRPO's calling convention, over HTTP
    with urllib.request.urlopen(service.url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert "scrutiny_images_total 11" in metrics and "scrutiny_requests_total" in metrics


def block(reward, images):
    from scrutiny.core.aio import block_on

    return block_on(reward.ascore(images, [SIGN] * len(images)))


@pytest.mark.slow  # a real server and judgments: over 1 s
def test_a_replica_that_is_down_is_passed_over_and_none_answering_abstains(service):
    down = "http://127.0.0.1:9"  # nothing listens on the discard port
    both = remote_reward(down, service.url, token="s3cret")
    assert not np.isnan(both.score([storefront("OPEN")], [SIGN])).any()  # the second replica answered
    nobody = remote_reward(down, token="s3cret", retries=1, pause_s=0.1)
    (verdict,) = block(nobody, [storefront("OPEN")])
    assert verdict.score is None and "did not answer" in verdict.error


@pytest.mark.slow  # a real server and judgments: over 1 s
def test_bad_requests_get_one_clear_error_each_and_a_bad_image_abstains_alone(service):
    good = {"image": _png(storefront("OPEN")), "prompt": SIGN}
    assert _post(service.url, json.dumps({"items": [good]}).encode(), token=None)[0] == 401
    assert _post(service.url, json.dumps({"items": [good]}).encode(), token="wrong")[0] == 401
    status, body = _post(service.url, b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    status, body = _post(service.url, json.dumps({"items": [{"prompt": SIGN}]}).encode())
    assert status == 400 and "'image'" in body["error"]
    status, body = _post(service.url, json.dumps({"items": [good] * 5}).encode())
    assert status == 413 and "at most 4" in body["error"]
    host, port = service.server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)  # a body too large, refused before it is read
    connection.putrequest("POST", "/v1/score")
    connection.putheader("Authorization", "Bearer s3cret")
    connection.putheader("Content-Length", "8000001")
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413 and "at most 8000000" in json.loads(answer.read())["error"]
    assert _post(service.url, b"{}", path="/v2/score")[0] == 404
    corrupt = {"image": base64.b64encode(b"not a png").decode(), "prompt": SIGN}
    status, body = _post(service.url, json.dumps({"items": [good, corrupt]}).encode())
    assert status == 200 and body["scores"][0] is not None and body["scores"][1] is None
    assert body["verdicts"][1]["error"]  # says why it abstained
    buffer = io.BytesIO()
    storefront("OPEN").save(buffer, format="BMP")  # a format Pillow reads, but not one the service opens
    bmp = {"image": base64.b64encode(buffer.getvalue()).decode(), "prompt": SIGN}
    status, body = _post(service.url, json.dumps({"items": [good, bmp]}).encode())
    assert body["scores"][1] is None and "not a PNG, JPEG, PPM or WEBP image" in body["verdicts"][1]["error"]
    with urllib.request.urlopen(service.url + "/health", timeout=10) as response:
        assert json.loads(response.read())["ok"] is True


def test_a_service_off_loopback_needs_a_token():
    with pytest.raises(ValueError, match="needs a bearer token"):
        JudgeService(host="0.0.0.0", port=0)


def test_a_prompt_group_travels_in_one_request():
    """The service gates near-copies within a prompt's group: a group is never split over requests."""
    from scrutiny.trainers.service import _chunks

    prompts = ["a"] * 5 + ["b"] * 3 + ["c"] * 6 + ["d"]
    chunks = _chunks(prompts, 8)
    assert sorted(k for c in chunks for k in c) == list(range(len(prompts)))
    for prompt in "abcd":
        assert sum(any(prompts[k] == prompt for k in c) for c in chunks) == 1
    assert max(len(c) for c in chunks) <= 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "needs a bearer token"),
        (["--ray", "local", "--autoscale", "3:1"], "--autoscale takes LEAST:MOST"),
        (["--ray", "local", "--replicas", "0"], "--replicas must be at least 1"),
    ],
)
def test_serve_judge_refuses_bad_options_in_one_line(args, message):
    from typer.testing import CliRunner

    from scrutiny.cli import app

    result = CliRunner().invoke(app, ["serve-judge", *args])
    assert result.exit_code != 0 and message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow  # a real process: about 10 s
def test_serve_judge_answers_from_its_own_process_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"SCRUTINY_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "scrutiny.cli", "serve-judge", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=5).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        scores = remote_reward(url).score([storefront("OPEN"), storefront("OPNE", seed=1)], [SIGN, SIGN])
        assert scores[0] > scores[1] >= 0
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert f"judge service at {url}" in process.stderr.read()
