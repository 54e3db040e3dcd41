"""GRPO at scale (issue 18): the step maths against formulas written out here, the pipelines' own
schedules, SD3 and FLUX policies (also in bfloat16), minibatches, gradient checkpointing,
zero-advantage filtering, the reward pool, EMA, evaluation, trackers, and two processes."""

import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scrutiny.trainers.flow import ddim_step, flow_sde_step, kl_to_reference, log_prob
from scrutiny.trainers.grpo import GRPOConfig, GRPOTrainer
from scrutiny.trainers.toy import pretrain, redness

HERE = Path(__file__).resolve().parent
pytestmark = [
    pytest.mark.usefixtures("fresh_accelerate"),  # each test's trainer sets accelerate up as it asks
    pytest.mark.slow,  # tiny diffusers pipelines and accelerate: the fast loop leaves GRPO to the full suite
]


@pytest.fixture(scope="module")
def pretrained():
    return pretrain(steps=60, seed=0)


def config(**kw):
    base = dict(
        prompts=["a square"],
        group_size=4,
        groups_per_step=2,
        steps=2,
        sampling_steps=4,
        learning_rate=3e-3,
        clip_range=0.2,
        lora_rank=4,
        lora_alpha=8,
        report_to="none",
    )
    return GRPOConfig(**{**base, **kw})


def toy_reward(images, prompts):
    return redness(images, prompts).numpy()


def trainable(t: GRPOTrainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in t.policy.model.named_parameters() if p.requires_grad}


def mean_of_images(images, prompts):
    return images.float().mean(dim=(1, 2, 3)).numpy()


# 1. the step maths, against formulas written out from the papers' code


def flow_grpo_sde_step(model_output, sigma, sigma_prev, sigma_max, sample, prev_sample, noise_level):
    """Flow-GRPO's `sde_step_with_logprob` (flow_grpo/diffusers_patch/sd3_sde_with_logprob.py), as
    written there: returns prev_sample_mean, std_dev_t, log_prob."""
    dt = sigma_prev - sigma
    std_dev_t = torch.sqrt(sigma / (1 - torch.where(sigma == 1, sigma_max, sigma))) * noise_level
    prev_sample_mean = (
        sample * (1 + std_dev_t**2 / (2 * sigma) * dt)
        + model_output * (1 + std_dev_t**2 * (1 - sigma) / (2 * sigma)) * dt
    )
    lp = (
        -((prev_sample.detach() - prev_sample_mean) ** 2) / (2 * ((std_dev_t * torch.sqrt(-1 * dt)) ** 2))
        - torch.log(std_dev_t * torch.sqrt(-1 * dt))
        - torch.log(torch.sqrt(2 * torch.as_tensor(math.pi)))
    )
    return prev_sample_mean, std_dev_t, lp.mean(dim=tuple(range(1, lp.ndim)))


@pytest.mark.parametrize(("sigma", "sigma_next"), [(1.0, 0.96), (0.6, 0.46), (0.28, 0.0089)])
def test_flow_sde_step_log_prob_and_both_kl_forms_match_flow_grpo(sigma, sigma_next):
    torch.manual_seed(0)
    x, v, ref_v = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    ours = flow_sde_step(x, v, sigma, sigma_next, 0.96, noise_level=0.7)
    x_next = ours.mean + ours.std * torch.randn(x.shape)
    s, s1, sn = (torch.full((2, 1, 1, 1), value, dtype=torch.float64) for value in (sigma, 0.96, sigma_next))
    mean, std_dev_t, lp = flow_grpo_sde_step(v.double(), s, sn, s1, x.double(), x_next.double(), 0.7)
    torch.testing.assert_close(ours.mean.double(), mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log_prob(x_next, ours).double(), lp, rtol=1e-5, atol=1e-4)
    # train_sd3.py: kl = mean((μ − μ_ref)²) / (2·std_dev_t²); the exact KL divides by std² = std_dev_t²·|Δ|
    reference = flow_sde_step(x, ref_v, sigma, sigma_next, 0.96, noise_level=0.7)
    paper = ((mean - reference.mean.double()) ** 2).mean(dim=(1, 2, 3)) / (2 * std_dev_t.flatten() ** 2)
    torch.testing.assert_close(kl_to_reference(ours, reference.mean, "flow_grpo").double(), paper, rtol=1e-4, atol=0)
    exact = kl_to_reference(ours, reference.mean, "exact")
    torch.testing.assert_close(
        exact * abs(sigma_next - sigma), kl_to_reference(ours, reference.mean), rtol=1e-5, atol=0
    )


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_ddim_step_for_each_prediction_type_matches_diffusers(prediction_type):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type=prediction_type
    )
    scheduler.set_timesteps(10)
    t, t_prev = int(scheduler.timesteps[3]), int(scheduler.timesteps[4])
    x, output, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    a, a_prev = float(scheduler.alphas_cumprod[t]), float(scheduler.alphas_cumprod[t_prev])
    ours = ddim_step(x, output, a, a_prev, eta=1.0, prediction_type=prediction_type)
    theirs = scheduler.step(output, t, x, eta=1.0, variance_noise=noise).prev_sample
    torch.testing.assert_close(ours.mean + ours.std * noise, theirs, rtol=1e-5, atol=1e-5)
    # DDIM's KL has no time step to divide by: both forms agree
    other = ddim_step(x, output + 0.1, a, a_prev, eta=1.0, prediction_type=prediction_type).mean
    torch.testing.assert_close(kl_to_reference(ours, other, "flow_grpo"), kl_to_reference(ours, other, "exact"))
    with pytest.raises(ValueError, match="prediction_type"):
        ddim_step(x, output, a, a_prev, prediction_type="flow")


def test_v_prediction_unet_gets_its_own_log_probs(tiny_sd):
    """A v-prediction UNet read as ε gives other log-probs (issue: −1.107 vs −0.769)."""
    from diffusers import DDIMScheduler

    from scrutiny.trainers.diffusers_policy import UNetDDIMPolicy

    pipe = copy.deepcopy(tiny_sd)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, prediction_type="v_prediction")
    policy = UNetDDIMPolicy(pipe, height=32, width=32)
    assert policy.prediction_type == "v_prediction"
    t = GRPOTrainer(
        policy, mean_of_images, config(prompts=["a red circle"], group_size=2, groups_per_step=1, sampling_steps=3)
    )
    rollout = t.sample(["a red circle"] * 2, torch.Generator().manual_seed(0))
    condition = policy.condition(rollout.prompts)
    with torch.no_grad():
        right = log_prob(rollout.next_latents[:, 0], t.transition_step(rollout, 0, condition))
        policy.prediction_type = "epsilon"
        wrong = log_prob(rollout.next_latents[:, 0], t.transition_step(rollout, 0, condition))
    torch.testing.assert_close(right, rollout.log_probs[:, 0], rtol=0, atol=1e-5)
    assert (right - wrong).abs().min() > 1e-3


# 2. the pipelines' own schedules, and their outputs reproduced


def test_sd3_policy_samples_as_the_pipeline_does_with_its_shift(tiny_sd3):
    from diffusers import FlowMatchEulerDiscreteScheduler

    from scrutiny.trainers.diffusers_policy import SD3FlowPolicy

    tiny_sd3.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    policy = SD3FlowPolicy(tiny_sd3, height=16, width=16, max_sequence_length=16)
    t = GRPOTrainer(
        policy, mean_of_images, config(prompts=["a red square"], sampling_steps=10, group_size=2, groups_per_step=1)
    )
    sigmas = [s for s, _, _ in t.schedule] + [t.schedule[-1][1]]
    reference = FlowMatchEulerDiscreteScheduler(shift=3.0)
    reference.set_timesteps(10)
    assert sigmas == pytest.approx(reference.sigmas.tolist(), abs=1e-6)
    assert sigmas[-2] < 0.01  # the last step starts almost clean (a linspace schedule left 0.25)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn((2, *policy.latent_shape), generator=generator)
    ours = t.sample(["a red square"] * 2, torch.Generator().manual_seed(3), stochastic=False).images
    theirs = tiny_sd3(
        ["a red square"] * 2,
        height=16,
        width=16,
        num_inference_steps=10,
        guidance_scale=1.0,
        latents=x,
        output_type="pt",
        max_sequence_length=16,
    ).images
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    # a shift given in the config replaces the scheduler's
    unshifted = FlowMatchEulerDiscreteScheduler(shift=1.0)
    unshifted.set_timesteps(10)
    assert policy.flow_schedule(10, 1.0).tolist() == pytest.approx(unshifted.sigmas.tolist(), abs=1e-6)


def test_flux_policy_samples_as_the_pipeline_does_and_trains(tiny_flux):
    from scrutiny.trainers.diffusers_policy import FluxFlowPolicy

    policy = FluxFlowPolicy(tiny_flux, height=16, width=16, guidance_scale=3.5, max_sequence_length=16)
    assert policy.latent_shape == (1, 16, 16)
    t = GRPOTrainer(
        policy,
        mean_of_images,
        config(prompts=["a red square"], group_size=3, groups_per_step=1, sampling_steps=4, beta=0.04),
    )
    x = torch.randn((2, *policy.latent_shape), generator=torch.Generator().manual_seed(5))
    ours = t.sample(["a red square"] * 2, torch.Generator().manual_seed(5), stochastic=False).images
    theirs = tiny_flux(
        ["a red square"] * 2,
        height=16,
        width=16,
        num_inference_steps=4,
        guidance_scale=3.5,
        latents=tiny_flux._pack_latents(x, 2, *policy.latent_shape),
        output_type="pt",
        max_sequence_length=16,
    ).images
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)  # the dynamic shift, packing, guidance input
    rollout = t.sample(["a red square"] * 3, torch.Generator().manual_seed(0))
    condition = policy.condition(rollout.prompts)
    with torch.no_grad():
        again = log_prob(rollout.next_latents[:, 1], t.transition_step(rollout, 1, condition))
    torch.testing.assert_close(again, rollout.log_probs[:, 1], rtol=0, atol=1e-5)
    before = trainable(t)
    metrics = t.train_step()
    assert math.isfinite(metrics["loss"]) and metrics["ratio"] == pytest.approx(1.0, abs=1e-4)
    assert any(not torch.equal(before[n], p) for n, p in trainable(t).items())
    assert all("lora_" in n for n in before) and not any(p.requires_grad for p in tiny_flux.vae.parameters())


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
@pytest.mark.parametrize("kind", ["sd3", "flux"])
def test_bfloat16_pipelines_train_with_a_float32_adapter(kind, tiny_sd3, tiny_flux):
    from scrutiny.trainers.diffusers_policy import FluxFlowPolicy, SD3FlowPolicy

    pipe = (tiny_sd3 if kind == "sd3" else tiny_flux).to(torch.bfloat16)
    make = SD3FlowPolicy if kind == "sd3" else FluxFlowPolicy
    policy = make(pipe, height=16, width=16, guidance_scale=4.5 if kind == "sd3" else 3.5, max_sequence_length=16)
    t = GRPOTrainer(
        policy,
        mean_of_images,
        config(prompts=["a red square"], group_size=3, groups_per_step=1, sampling_steps=3, mixed_precision="bf16"),
    )
    before = trainable(t)
    assert before and all(p.dtype == torch.float32 for p in before.values())
    assert next(p for n, p in t.policy.model.named_parameters() if "lora_" not in n).dtype == torch.bfloat16
    for _ in range(2):
        metrics = t.train_step()
        assert math.isfinite(metrics["loss"]) and math.isfinite(metrics["reward_mean"])
    assert any(not torch.equal(before[n], p) for n, p in trainable(t).items())


# 3. the update: minibatches, checkpointing, zero advantages


def pending_gradients(t: GRPOTrainer) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in t.policy.model.named_parameters() if p.requires_grad}


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_minibatches_give_the_same_gradients_as_one_batch(pretrained):
    results = []
    for size in (None, 3):
        torch.manual_seed(0)
        # accumulating over two steps: after one, the gradients are there to compare, not yet applied
        t = GRPOTrainer(copy.deepcopy(pretrained), toy_reward, config(train_batch_size=size, gradient_accumulation=2))
        metrics = t.train_step()
        results.append((pending_gradients(t), metrics["loss"]))
    (full, loss), (parts, loss_parts) = results
    assert loss_parts == pytest.approx(loss, abs=1e-6)  # on-policy: ratio 1, advantages summing to ~0
    for name, value in full.items():
        torch.testing.assert_close(parts[name], value, rtol=1e-4, atol=1e-8, msg=name)
    # sampling in chunks: the same number of samples and trained steps
    t = GRPOTrainer(copy.deepcopy(pretrained), toy_reward, config(sample_batch_size=3))
    rollout = t.sample(["a square"] * 4, torch.Generator().manual_seed(0))
    assert rollout.images.shape[0] == rollout.latents.shape[0] == 4


def test_gradient_checkpointing_gives_the_same_update(tiny_sd3):
    from scrutiny.trainers.diffusers_policy import SD3FlowPolicy

    results = []
    for checkpointing in (False, True):
        pipe = copy.deepcopy(tiny_sd3)
        policy = SD3FlowPolicy(pipe, height=16, width=16, guidance_scale=4.5, max_sequence_length=16)
        t = GRPOTrainer(
            policy,
            mean_of_images,
            config(
                prompts=["a red square"],
                group_size=3,
                groups_per_step=1,
                sampling_steps=3,
                gradient_checkpointing=checkpointing,
            ),
        )
        assert pipe.transformer.gradient_checkpointing is checkpointing
        t.config.gradient_accumulation = 2  # keep the gradients to compare
        t.train_step()
        results.append(pending_gradients(t))
    for name, value in results[0].items():
        torch.testing.assert_close(results[1][name], value, rtol=1e-4, atol=1e-8, msg=name)
    with pytest.raises(ValueError, match="no enable_gradient_checkpointing"):
        GRPOTrainer(pretrain(steps=1), toy_reward, config(gradient_checkpointing=True))


def test_samples_with_zero_advantage_are_left_out_of_the_loss(pretrained):
    import random

    prompts = ["a square", "a red square"]

    # a seed whose step draws both prompts (the trainer draws them with Python's random, seeded so)
    def drawn(seed: int) -> set[str]:
        r = random.Random(seed)
        return {r.choice(prompts) for _ in range(2)}

    seed = next(s for s in range(50) if len(drawn(s)) == 2)

    def flat_for_the_plain_square(images, prompts):
        values = toy_reward(images, prompts)
        return np.full_like(values, 0.5) if prompts[0] == "a square" else values

    t = GRPOTrainer(
        copy.deepcopy(pretrained), flat_for_the_plain_square, config(prompts=prompts, advantage_std="group", seed=seed)
    )
    metrics = t.train_step()
    assert metrics["kept"] == 0.5 and metrics["zero_std_groups"] == 0.5
    # every sample flat: nothing to learn, no update (AdamW's weight decay would still move the weights)
    flat = GRPOTrainer(copy.deepcopy(pretrained), lambda images, prompts: np.ones(len(prompts)), config())
    before = trainable(flat)
    metrics = flat.train_step()
    assert metrics["kept"] == 0.0 and metrics["loss"] == 0.0
    assert all(torch.equal(before[n], p) for n, p in trainable(flat).items())
    # without the filter the KL and weight decay still act on them
    kept = GRPOTrainer(
        copy.deepcopy(pretrained), lambda images, prompts: np.ones(len(prompts)), config(drop_zero_advantage=False)
    )
    assert kept.train_step()["kept"] == 1.0


# 4. rewards: Flow-GRPO's calling convention, a pool, the wait measured


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_a_flow_grpo_reward_function_and_the_reward_pool(pretrained):
    started = []

    def flow_grpo_style(images, prompts, metadata, only_strict=True):
        started.append(time.perf_counter())
        time.sleep(0.2)
        scores = toy_reward(images, prompts)
        return {"avg": scores, "redness": scores}, {"steps": [m["step"] for m in metadata]}

    t = GRPOTrainer(copy.deepcopy(pretrained), flow_grpo_style, config(groups_per_step=3, reward_workers=3))
    began = time.perf_counter()
    metrics = t.train_step()
    sampled = began + metrics["sample_s"]
    assert len(started) == 3 and started[0] < sampled  # the first group was scored while the others sampled
    assert 0 <= metrics["reward_wait_s"] <= metrics["step_s"] and 0 <= metrics["reward_wait_share"] <= 1
    assert metrics["reward_wait_s"] < 0.6  # three 0.2 s rewards on three workers overlap

    sizes = []

    def per_image(images, prompts):
        sizes.append(len(prompts))
        return toy_reward(images, prompts)

    t = GRPOTrainer(copy.deepcopy(pretrained), per_image, config(reward_batch_size=3))
    metrics = t.train_step()
    assert sizes == [3, 1, 3, 1] and metrics["kept"] > 0  # scored in calls of 3 as sampled; a group still a group

    def two_unnamed(images, prompts):
        return {"a": np.ones(len(prompts)), "b": np.ones(len(prompts))}, {}

    with pytest.raises(ValueError, match="add an 'avg' entry"):
        GRPOTrainer(copy.deepcopy(pretrained), two_unnamed, config()).train_step()


# 5. EMA, evaluation, trackers


def test_ema_evaluation_grids_and_tensorboard(pretrained, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    t = GRPOTrainer(
        copy.deepcopy(pretrained),
        toy_reward,
        config(
            steps=2,
            ema_every=1,
            eval_every=1,
            eval_samples=3,
            eval_steps=6,
            report_to="tensorboard",
            checkpoint_dir=str(tmp_path),
            checkpoint_every=2,
        ),
    )
    history = t.train()
    assert all(math.isfinite(h["eval_reward_mean"]) for h in history)
    assert sorted(p.name for p in tmp_path.glob("eval-step-*.png")) == ["eval-step-000001.png", "eval-step-000002.png"]
    assert t.ema.count == 2
    assert any(not torch.equal(s, p.float()) for s, p in zip(t.ema.shadow, t.trainable))
    weights = trainable(t)
    with t.ema.applied():
        assert any(not torch.equal(weights[n], p) for n, p in t.policy.model.named_parameters() if p.requires_grad)
    assert all(torch.equal(weights[n], p) for n, p in trainable(t).items())  # the trained weights are back
    events = list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert {"reward_mean", "loss", "kl", "eval_reward_mean", "reward_wait_share"} <= set(accumulator.Tags()["scalars"])
    assert [e.step for e in accumulator.Scalars("reward_mean")] == [1, 2]
    resumed = GRPOTrainer(copy.deepcopy(pretrained), toy_reward, config(report_to="none"))
    resumed.load(tmp_path / "step-000002.pt")
    assert resumed.ema.count == 2 and all(torch.equal(a, b) for a, b in zip(resumed.ema.shadow, t.ema.shadow))


def test_config_checks_for_the_new_settings():
    for bad, message in [
        (dict(kl="forward"), "kl must be"),
        (dict(timestep_fraction=0.0), "timestep_fraction"),
        (dict(train_batch_size=0), "train_batch_size"),
        (dict(mixed_precision="fp8"), "mixed_precision"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(shift=0.0), "shift must be positive"),
    ]:
        with pytest.raises(ValueError, match=message):
            config(**bad)
    defaults = GRPOConfig()
    assert (defaults.group_size, defaults.groups_per_step, defaults.sampling_steps) == (24, 48, 10)
    assert (defaults.kl, defaults.beta, defaults.clip_range, defaults.timestep_fraction) == (
        "flow_grpo",
        0.04,
        1e-4,
        0.99,
    )


# 6. two processes (accelerate launch, gloo on CPU)


def _launch(tmp_path: Path, out: str, steps: int, *resume: str, model: str = "toy") -> list[dict]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "GRPO_RANKS_MODEL": model}
    # `accelerate launch`, run from this interpreter (its script may not be on PATH); without a GPU,
    # --multi_gpu starts the processes with torchrun and they meet over gloo
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]
    result = subprocess.run(
        [*command, str(HERE / "grpo_ranks.py"), str(tmp_path / out), str(steps), *resume],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((tmp_path / out / f"rank-{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_two_processes_draw_their_own_rollouts_share_statistics_and_resume_exactly(tmp_path):
    a, b = _launch(tmp_path, "straight", 3)
    assert a["processes"] == b["processes"] == 2 and a["backend"] == "gloo"
    assert a["run_id"] == b["run_id"]  # one run: the main process's id, so every trace is found under it
    assert not set(a["images"]) & set(b["images"])  # each process samples its own groups, its own noise
    assert a["rewards"] == b["rewards"] and a["advantages"] == b["advantages"]  # gathered: the same statistics
    assert a["prompts"] == b["prompts"]  # though rank 1's reward draws from Python's random
    assert [h["reward_mean"] for h in a["history"]] == [h["reward_mean"] for h in b["history"]]
    assert a["lora"] == b["lora"]  # DDP keeps the adapters identical
    assert sorted(p.name for p in (tmp_path / "straight" / "checkpoints").iterdir()) == ["step-000002.pt"]
    c, d = _launch(tmp_path, "resumed", 3, str(tmp_path / "straight" / "checkpoints" / "step-000002.pt"))
    exact = ("reward_mean", "reward_std", "loss", "ratio", "kl", "kept")
    assert [c["history"][2][k] for k in exact] == [a["history"][2][k] for k in exact]  # step 3 again, exactly
    assert c["lora"] == a["lora"] == d["lora"]
    assert d["images"] == b["images"][-2:]  # rank 1's step-3 samples, bit for bit


def test_an_accelerator_made_earlier_in_the_process_is_used(pretrained):
    """accelerate fixes its state with the first Accelerator of a process (a notebook's, TRL's): a
    config that leaves mixed_precision out uses it; one that asks for another says so in one line."""
    from accelerate import Accelerator

    Accelerator(cpu=True, mixed_precision="bf16")
    t = GRPOTrainer(copy.deepcopy(pretrained), toy_reward, config())
    assert t.accelerator.mixed_precision == "bf16" and math.isfinite(t.train_step()["loss"])
    with pytest.raises(ValueError, match="an earlier Accelerator in this process set it to 'bf16'"):
        GRPOTrainer(copy.deepcopy(pretrained), toy_reward, config(mixed_precision="no"))


@pytest.mark.slow
def test_two_processes_train_a_tiny_sd3_pipeline_under_ddp(tmp_path):
    """LoRA on SD3's attention under DDP (every adapter weight gets a gradient, or DDP would stop)."""
    a, b = _launch(tmp_path, "sd3", 2, model="sd3")
    assert a["processes"] == 2 and not set(a["images"]) & set(b["images"])
    assert a["advantages"] == b["advantages"] and a["lora"] == b["lora"]
    assert all(math.isfinite(h["loss"]) for h in a["history"])
