"""A batch returns one verdict per item, in order: a bad item is an abstaining verdict that says why."""

import numpy as np
import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.core.images import ImageError
from scrutiny.testing.scenes import fitted_sign


@pytest.fixture
def judge(store):
    return Judge(store=store, config=JudgeConfig(cache=False, concurrency=4))


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_one_corrupt_image_among_twelve_loses_nothing(judge, store, tmp_path):
    (tmp_path / "fake.png").write_text("this is text named .png")
    images = [fitted_sign(w) for w in ("OPEN", "SHUT", "SALE", "FREE", "OPEN", "SHUT")] * 2
    images[5] = tmp_path / "fake.png"
    verdicts = judge.judge_many(images, 'The words "OPEN"')
    assert len(verdicts) == 12 and [v.error is not None for v in verdicts] == [i == 5 for i in range(12)]
    bad = verdicts[5]
    assert bad.abstained and bad.error.startswith("ImageError:") and "fake.png" in bad.error
    assert store.verdict(bad.id).error == bad.error  # stored, with a trace holding the error
    assert [e.kind for e in store.trace(bad.trace_id).events] == ["error"]
    assert all(store.verdict(v.id).scores == v.scores for v in verdicts)  # every good one stored too
    assert verdicts[0].score > 0.9 and verdicts[1].score < 0.5  # in order


def test_fail_fast_is_an_explicit_option(judge):
    with pytest.raises(ImageError):
        judge.judge_many([fitted_sign("OPEN"), b"\x00\x01"], 'The words "OPEN"', fail_fast=True)


def test_a_nan_sample_gets_its_group_mean_and_the_rest_are_scored(judge):
    torch = pytest.importorskip("torch")
    from scrutiny.trainers.rewards import JudgeReward, flow_grpo_reward

    batch = torch.rand(4, 3, 32, 32)
    batch[1, 0, 0, 0] = float("nan")
    rewards, info = flow_grpo_reward(JudgeReward(judge=judge))(batch, ["a red circle"] * 4, [{}] * 4)
    assert np.isnan(info["raw"][1]) and not np.isnan(info["raw"][[0, 2, 3]]).any()
    assert rewards[1] == pytest.approx(np.mean(info["raw"][[0, 2, 3]]), abs=1e-6)
    assert info["errors"] == {1: "ImageError: torch tensor contains NaN or infinite values"}


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_the_faults_benchmark_loses_nothing():
    """Two servers with 20% faults of six kinds, one killed halfway (benchmarks/faults.py, scaled down)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"
    out = subprocess.run(
        [sys.executable, str(script), "--judgments", "160", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    assert report["lost"] == 0 and report["errors"] == {} and report["abstentions_without_reason"] == 0
    assert report["verdicts"] >= 0.95 * 160 and sum(report["faults_drawn"].values()) > 20
