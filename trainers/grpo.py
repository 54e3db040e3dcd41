"""GRPO for diffusion and flow-matching generators, on rewards from scrutiny verdicts (Flow-GRPO's recipe).

One training step:
1. every process draws the same `groups_per_step` prompts and samples its share of the groups
   (whole groups, so a groupwise reward sees all of a prompt's images), each process with its own
   noise; a group's rewards are computed in a worker pool while the next group samples, and the
   time spent waiting for them is measured;
2. rewards are gathered from every process; advantages come from the whole gathered batch (per
   prompt), the same on every process (abstentions are NaN, replaced by the group mean);
3. samples whose advantage is zero are left out; for every trained transition, the step's mean is
   recomputed under the current model (in minibatches), with the clipped-ratio loss and the KL to
   the reference (the same model with its LoRA adapter off); gradients add up over
   `gradient_accumulation` steps before one clipped AdamW update; an EMA of the adapter follows.

Several GPUs or nodes: `accelerate launch -m scrutiny.cli train config.toml` (DDP through
`accelerate.Accelerator`; the main process alone writes checkpoints, grids and tracker logs).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scrutiny.trainers.config import GRPOConfig
from scrutiny.trainers.flow import Step, ddim_step, flow_sde_step, kl_to_reference, log_prob, sigmas
from scrutiny.trainers.grids import grid_image, sample_grid  # noqa: F401 - sample_grid: found here too
from scrutiny.trainers.lora import EMA, lora_targets
from scrutiny.trainers.monitor import GamingMonitor, image_statistics
from scrutiny.trainers.rewards import group_advantages
from scrutiny.trainers.rollouts import FlowPolicy, RewardFn, Rollout, Scored, _takes_metadata, reward_values

__all__ = ["GRPOConfig", "GRPOTrainer", "lora_targets"]


def _accelerator(c: GRPOConfig) -> Any:
    """The run's `Accelerator`. accelerate keeps one state per process: where an earlier Accelerator
    (a notebook's, another trainer's) set it, a config that leaves `mixed_precision` out uses it."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    trackers = [] if c.report_to in ("none", [], None) else c.report_to
    options: dict[str, Any] = dict(
        cpu=not torch.cuda.is_available(),
        log_with=(trackers or None) if c.checkpoint_dir else None,
        project_dir=str(Path(c.checkpoint_dir) / "logs") if c.checkpoint_dir else None,
    )
    existing = getattr(AcceleratorState, "_shared_state", {})
    if c.mixed_precision is not None:
        options["mixed_precision"] = c.mixed_precision
    elif not existing:
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        options["mixed_precision"] = "bf16" if bf16 else "no"
    try:
        # accumulation is counted by the trainer in training steps, not by accelerate in backward
        # calls (one per transition and minibatch), so `gradient_accumulation` means what it says
        return Accelerator(**options)
    except ValueError as e:
        if "already been initialized" not in str(e):
            raise
        raise ValueError(
            f"mixed_precision={c.mixed_precision!r}: an earlier Accelerator in this process set it to "
            f"{existing.get('_mixed_precision')!r}; leave mixed_precision out, or start a new process"
        ) from None


class GRPOTrainer:
    def __init__(
        self,
        policy: FlowPolicy,
        reward_fn: RewardFn,
        config: GRPOConfig,
        *,
        store: Any = None,
        run_id: str | None = None,
        accelerator: Any = None,
    ):

        self.config = c = config
        self.policy = policy
        self.reward_fn = reward_fn
        self.store = store
        self.run_id = run_id or f"grpo-{config.seed}"
        if accelerator is None:
            accelerator = _accelerator(c)
        self.accelerator = accelerator
        self.device = accelerator.device
        self.rank, self.processes = accelerator.process_index, accelerator.num_processes
        if self.processes > 1:  # one run: every process's traces carry the main process's run id
            from accelerate.utils import broadcast_object_list

            self.run_id = broadcast_object_list([self.run_id])[0]
        if c.groups_per_step % self.processes:
            raise ValueError(
                f"groups_per_step ({c.groups_per_step}) must divide evenly among the {self.processes} processes"
            )
        self._seed(c.seed)
        if c.gradient_checkpointing:
            if not hasattr(policy.model, "enable_gradient_checkpointing"):
                raise ValueError("gradient_checkpointing: this model has no enable_gradient_checkpointing()")
            policy.model.enable_gradient_checkpointing()
        if not c.full_finetune:
            self._add_lora()
        self.trainable = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=c.learning_rate, weight_decay=c.weight_decay)
        policy.model, self.optimizer = accelerator.prepare(policy.model, self.optimizer)
        self.ema = EMA(self.trainable, c.ema_decay) if c.ema else None
        self.schedule = self._schedule(c.sampling_steps)
        self.step_index = 0
        self.updates = 0
        """Optimizer updates made: one per `gradient_accumulation` training steps."""
        self.history: list[dict[str, float]] = []
        self.monitor = GamingMonitor()
        self.pool = ThreadPoolExecutor(max_workers=c.reward_workers)  # rewards run while sampling goes on

    # 1. setup

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        # the prompts are drawn from a generator of the trainer's own, the same on every process: a
        # reward function that draws from Python's `random` (in its threads, on one process only)
        # must not make the processes draw different prompts
        self.prompt_rng = random.Random(seed)
        torch.manual_seed(seed)

    def _add_lora(self) -> None:
        from peft import LoraConfig, get_peft_model

        targets = lora_targets(self.policy.model)
        config = LoraConfig(
            r=self.config.lora_rank,
            lora_alpha=self.config.lora_alpha,
            init_lora_weights="gaussian",
            target_modules=targets,
        )
        # "gaussian" init puts noise in A and zeros in B: the adapter starts as the identity. peft
        # keeps the adapter in float32 on a bfloat16 or float16 model (autocast_adapter_dtype).
        self.policy.model = get_peft_model(self.policy.model, config)

    def _schedule(self, steps: int) -> list[tuple[float, float, float]]:
        """Per sampling step: (σ, σ_next, σ_1) for flow policies, (t, ᾱ_t, ᾱ_prev) for DDIM."""
        if self.policy.sampler == "ddim":
            return self.policy.ddim_schedule(steps)
        if hasattr(self.policy, "flow_schedule"):
            values = self.policy.flow_schedule(steps, self.config.shift)
        else:
            values = sigmas(steps, self.config.shift or 1.0)
        values = [float(v) for v in values]
        return [(values[k], values[k + 1], values[1]) for k in range(steps)]

    def stochastic_steps(self, steps: int | None = None) -> list[int]:
        """Sampling steps drawn with noise: the train window, less DDIM steps whose variance is
        zero (the last one when the scheduler sets the final alpha to one)."""
        start, end = self.config.train_window or (0, self.config.sampling_steps)
        out = list(range(start, end))
        if self.policy.sampler == "ddim":
            out = [k for k in out if self.schedule[k][2] < 1.0]
        return out

    def trained_steps(self) -> list[int]:
        """The stochastic steps that are trained: the first `timestep_fraction` of them."""
        stochastic = self.stochastic_steps()
        if not stochastic:
            raise ValueError("no stochastic sampling step to train: widen train_window")
        return stochastic[: max(1, int(len(stochastic) * self.config.timestep_fraction))]

    @contextlib.contextmanager
    def _plain_model(self) -> Iterator[None]:
        """The model without its DDP wrapper for forward passes that need no gradient (sampling,
        the reference, evaluation): DDP's forward would join collectives the other processes may not."""
        wrapped = self.policy.model
        self.policy.model = self.accelerator.unwrap_model(wrapped)
        try:
            yield
        finally:
            self.policy.model = wrapped

    # 2. sampling with log-probabilities

    def step_distribution(
        self, x: torch.Tensor, k: int, condition: Any, stochastic: bool = True, schedule: list | None = None
    ) -> Step:
        """The distribution of sampling step k from x; with `stochastic=False`, the ODE step (std 0)."""
        c = self.config
        noise = c.noise_level if stochastic else 0.0
        batch = x.shape[0]
        with self.accelerator.autocast():
            if self.policy.sampler == "ddim":
                t, alpha_bar, alpha_bar_prev = (schedule or self.schedule)[k]
                output = self.policy.prediction(x, torch.full((batch,), t, device=self.device), condition).float()
                prediction_type = getattr(self.policy, "prediction_type", "epsilon")
                return ddim_step(x, output, alpha_bar, alpha_bar_prev, eta=noise, prediction_type=prediction_type)
            sigma, sigma_next, sigma_1 = (schedule or self.schedule)[k]
            v = self.policy.velocity(x, torch.full((batch,), sigma, device=self.device), condition).float()
        return flow_sde_step(x, v, sigma, sigma_next, sigma_1, noise)

    @torch.no_grad()
    def sample(
        self, prompts: list[str], generator: torch.Generator, *, steps: int | None = None, stochastic: bool = True
    ) -> Rollout:
        """Sample images for `prompts`, keeping the trained steps' latents and log-probabilities.
        `steps` other than the training schedule's, or `stochastic=False`, give evaluation samples
        (the ODE, nothing to train)."""
        c = self.config
        chunk = c.sample_batch_size or len(prompts)
        if len(prompts) > chunk:
            parts = [
                self.sample(prompts[i : i + chunk], generator, steps=steps, stochastic=stochastic)
                for i in range(0, len(prompts), chunk)
            ]
            return Rollout.cat(parts)
        schedule = self.schedule if steps in (None, c.sampling_steps) else self._schedule(steps)
        noisy = set(self.stochastic_steps()) if stochastic and schedule is self.schedule else set()
        trained = self.trained_steps() if noisy else []
        with self._plain_model():
            condition = self.policy.condition(prompts)
            x = torch.randn((len(prompts), *self.policy.latent_shape), generator=generator, device=self.device)
            inputs, outputs, log_probs = [], [], []
            for k in range(len(schedule)):
                step = self.step_distribution(x, k, condition, stochastic=k in noisy, schedule=schedule)
                if k not in noisy:
                    x = step.mean  # the ODE outside the stochastic window
                    continue
                x_next = step.mean + step.std * torch.randn(x.shape, generator=generator, device=self.device)
                if k in trained:
                    inputs.append(x)
                    outputs.append(x_next)
                    log_probs.append(log_prob(x_next, step))
                x = x_next
            images = self.policy.decode(x)
        empty = x.new_zeros((len(prompts), 0, *x.shape[1:]))
        return Rollout(
            prompts,
            torch.stack(inputs, dim=1) if inputs else empty,
            torch.stack(outputs, dim=1) if outputs else empty,
            torch.stack(log_probs, dim=1) if log_probs else x.new_zeros((len(prompts), 0)),
            trained,
            images,
        )

    # 3. rewards and advantages

    def rewards(self, rollout: Rollout, evaluation: bool = False) -> np.ndarray:
        return self.scored(rollout, evaluation).values

    def scored(self, rollout: Rollout, evaluation: bool = False) -> Scored:
        """The rollout's rewards, with the content signal and per-criterion scores where the reward
        function returns them (Flow-GRPO's `(scores, info)` with scrutiny's info)."""
        if _takes_metadata(self.reward_fn):  # Flow-GRPO's (images, prompts, metadata): the judge's traces
            metadata = [{"run": self.run_id, "step": self.step_index, "eval": evaluation} for _ in rollout.prompts]
            out = self.reward_fn(rollout.images, rollout.prompts, metadata)
        else:
            out = self.reward_fn(rollout.images, rollout.prompts)
        values = reward_values(out)
        n = len(rollout.prompts)
        if values.shape != (n,):
            raise ValueError(f"the reward function gave {values.size} rewards for {n} images")
        info = out[1] if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], dict) else {}
        if np.shape(info.get("raw")) == (n,):  # abstentions as NaN: the trainer fills them, and counts them
            values = np.asarray(info["raw"], dtype=np.float64)
        signal = np.asarray(info.get("signal", np.full(n, np.nan)), dtype=np.float64).reshape(-1)
        text = np.asarray(info.get("text_area", np.full(n, np.nan)), dtype=np.float64).reshape(-1)
        criteria = {k: np.asarray(v, dtype=np.float64) for k, v in (info.get("criteria") or {}).items()}
        return Scored(values, signal if signal.shape == (n,) else np.full(n, np.nan), criteria, text)

    def advantages(
        self, rewards: np.ndarray, prompts: list[str], signal: np.ndarray | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if signal is not None and not np.isfinite(signal).any():
            signal = None  # the reward function reports no content signal
        result = group_advantages(
            rewards,
            prompts,
            per=self.config.advantage_std,
            clip=self.config.advantage_clip,
            resolution=self.config.reward_resolution,
            signal=signal,
        )  # NaN → group mean: advantage 0
        return torch.tensor(result.values, dtype=torch.float32, device=self.device), {
            "abstain_rate": result.abstain_rate,
            "zero_std_groups": result.constant_groups,
            "unsignalled_groups": result.unsignalled_groups,
        }

    # 4. the update

    def transition_step(self, rollout: Rollout, j: int, condition: Any) -> Step:
        """The step distribution of trained transition j under the current model."""
        return self.step_distribution(rollout.latents[:, j], rollout.trained[j], condition)

    def loss(
        self,
        rollout: Rollout,
        advantages: torch.Tensor,
        j: int,
        condition: Any,
        weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of trained transition j, a mean over the samples (or a sum weighted by `weights`)."""
        c = self.config
        step = self.transition_step(rollout, j, condition)
        new_log_prob = log_prob(rollout.next_latents[:, j], step)  # [B]
        ratio = torch.exp(new_log_prob - rollout.log_probs[:, j])  # [B]
        clipped = torch.clamp(ratio, 1 - c.clip_range, 1 + c.clip_range)
        per_sample = torch.maximum(-advantages * ratio, -advantages * clipped)  # [B]
        kl = torch.zeros_like(per_sample)
        if c.beta > 0 and not c.full_finetune:
            with (
                torch.no_grad(),
                self._plain_model(),
                self.accelerator.unwrap_model(self.policy.model).disable_adapter(),
            ):
                reference = self.transition_step(rollout, j, condition).mean
            kl = kl_to_reference(step, reference, c.kl)
        total = per_sample + c.beta * kl
        loss = total.mean() if weights is None else (total * weights).sum()
        stats = {
            "ratio": ratio.mean().item(),
            "clip_fraction": ((ratio - 1).abs() > c.clip_range).float().mean().item(),
            "kl": kl.mean().item(),
        }
        return loss, stats

    def _gather(self, values: np.ndarray) -> np.ndarray:
        if self.processes == 1:
            return values
        tensor = torch.as_tensor(values, dtype=torch.float64, device=self.device)
        return self.accelerator.gather(tensor).cpu().numpy()

    def train_step(self) -> dict[str, float]:
        """Sample, reward, and update once; returns the step's metrics (the same gathered reward
        statistics on every process)."""
        c = self.config
        started = time.perf_counter()
        # 1. every process draws the same prompts and samples its own share of the groups
        prompts = [self.prompt_rng.choice(c.prompts) for _ in range(c.groups_per_step)]
        batch, scored, sampled, waited = self._sample_and_score(prompts[self.rank :: self.processes])
        # 2. advantages over the gathered batch: every process's groups, in rank order
        rewards, signal = self._gather(scored.values), self._gather(scored.signal)
        everyone = [p for r in range(self.processes) for p in prompts[r :: self.processes] for _ in range(c.group_size)]
        advantages, adv_stats = self.advantages(rewards, everyone, signal)
        advantages = advantages.reshape(self.processes, -1)[self.rank]
        # 3. the update, over the samples whose advantage is not zero
        totals, kept = self._update(batch, advantages)
        updated = self._optimizer_step()
        finite = rewards[np.isfinite(rewards)]
        elapsed = time.perf_counter() - started
        metrics = {
            "step": self.step_index,
            "reward_mean": float(finite.mean()) if finite.size else math.nan,
            "reward_std": float(finite.std()) if finite.size else math.nan,
            **totals,
            **adv_stats,
            "kept": kept / len(advantages),
            "updated": float(updated),
            "step_s": elapsed,
            "sample_s": sampled - started,
            "reward_wait_s": waited,
            "reward_wait_share": waited / elapsed,
            **self._watch(batch, scored, signal),
        }
        self.history.append(metrics)
        metrics["gaming_alarms"] = float(len(self.monitor.update(self.history)))
        self.step_index += 1
        return metrics

    def _sample_and_score(self, mine: list[str]) -> tuple[Rollout, Scored, float, float]:
        """This process's groups, sampled in reward-sized chunks, each scored in the pool while the next
        samples; returns the batch, its scores, when sampling ended and how long rewards were waited for."""
        c = self.config
        generator = torch.Generator(device=self.device).manual_seed(
            (c.seed * 1_000_003 + self.step_index) * 1009 + self.rank
        )
        rollouts, futures = [], []
        chunk = c.reward_batch_size or c.group_size
        for prompt in mine:
            for start in range(0, c.group_size, chunk):
                rollout = self.sample([prompt] * min(chunk, c.group_size - start), generator)
                rollouts.append(rollout)
                futures.append(self.pool.submit(self.scored, rollout))  # scored while the next ones sample
        sampled = time.perf_counter()
        scored = Scored.cat([f.result() for f in futures])
        return Rollout.cat(rollouts), scored, sampled, time.perf_counter() - sampled

    def _update(self, batch: Rollout, advantages: torch.Tensor) -> tuple[dict[str, float], int]:
        """Gradients of the clipped loss over the kept samples and trained transitions, in minibatches;
        returns the loss statistics and how many samples this process kept."""
        c = self.config
        keep = advantages != 0 if c.drop_zero_advantage else torch.ones_like(advantages, dtype=torch.bool)
        kept = int(keep.sum())
        kept_everywhere = int(self._gather(np.array([kept])).sum())
        # each kept sample and trained transition, on any process, weighs the same in the update's
        # mean (DDP averages the processes' gradients, hence the factor)
        scale = self.processes / (max(kept_everywhere, 1) * len(batch.trained) * c.gradient_accumulation)
        weights = keep.float() * scale
        if self.processes == 1:
            index = keep.nonzero().flatten()  # dropped: no compute spent on them
        elif kept_everywhere:  # every process must run the same passes (DDP): they stay, with weight 0
            index = torch.arange(len(advantages), device=self.device)
        else:  # nothing anywhere to learn from: every process skips the update alike
            index = torch.arange(0, device=self.device)
        totals = {"loss": 0.0, "ratio": 0.0, "clip_fraction": 0.0, "kl": 0.0}
        self.policy.model.train()
        size = c.train_batch_size or max(len(index), 1)
        for part in (index[i : i + size] for i in range(0, len(index), size)):
            minibatch = batch.select(part.cpu())
            with self._plain_model():
                condition = self.policy.condition(minibatch.prompts)
            for j in range(len(batch.trained)):
                loss, stats = self.loss(minibatch, advantages[part], j, condition, weights[part])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at step {self.step_index}, transition {j}")
                self.accelerator.backward(loss)
                # the sum over this part's kept samples, per transition: a mean once divided by `kept`
                totals["loss"] += loss.item() / (scale * len(batch.trained) * max(kept, 1))
                for key, value in stats.items():
                    totals[key] += value * len(part) / len(index) / len(batch.trained)
        return totals, kept

    def _optimizer_step(self) -> bool:
        """One clipped AdamW update (and the EMA's) every `gradient_accumulation` steps; whether it ran."""
        c = self.config
        updated = (self.step_index + 1) % c.gradient_accumulation == 0
        if updated:
            if any(p.grad is not None for p in self.trainable):
                self.accelerator.clip_grad_norm_(self.trainable, c.max_grad_norm)
                self.optimizer.step()
            self.optimizer.zero_grad()
            self.updates += 1
            if self.ema is not None and self.updates % c.ema_every == 0:
                self.ema.update()
        self.policy.model.eval()
        return updated

    def _watch(self, batch: Rollout, scored: Scored, signal: np.ndarray) -> dict[str, float]:
        """What a run being gamed shows (`trainers/monitor.py`): the content signal (gathered), and this
        process's per-criterion means and image statistics."""
        pixels = (batch.images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        finite = signal[np.isfinite(signal)]
        out = {"content_mean": float(finite.mean()) if finite.size else math.nan}
        for key, values in scored.criteria.items():
            if np.isfinite(values).any():
                out[f"criterion/{key}"] = float(np.nanmean(values))
        stats = image_statistics(pixels, batch.prompts, scored.text_area)
        return out | {f"image/{k}": v for k, v in stats.items()}

    # 5. evaluation

    @torch.no_grad()
    def evaluate(self, path: str | Path | None = None) -> dict[str, float]:
        """Sample `eval_samples` images per evaluation prompt from fixed seeds, without noise, with
        `eval_steps` steps and the EMA weights; returns the mean reward, and saves a grid at `path`."""
        c = self.config
        prompts = c.eval_prompts or c.prompts
        rows = []
        with self.ema.applied() if self.ema is not None else contextlib.nullcontext():
            for k, prompt in enumerate(prompts):
                generator = torch.Generator(device=self.device).manual_seed(c.seed + 7919 * (k + 1))
                rows.append(self.sample([prompt] * c.eval_samples, generator, steps=c.eval_steps, stochastic=False))
        rewards = np.concatenate([self.rewards(r, evaluation=True) for r in rows])
        finite = rewards[np.isfinite(rewards)]
        if path is not None:
            grid_image([(r.prompts[0], r.images) for r in rows], path)
        return {"eval_reward_mean": float(finite.mean()) if finite.size else math.nan}

    def train(self, steps: int | None = None, progress: Callable[[dict], None] | None = None) -> list[dict[str, float]]:
        """Run `steps` steps (default: to `config.steps`). With a store, the run is recorded (kind
        "train": status, config, the metrics of every step) and the judge's traces carry its id and
        step. Metrics also go to the accelerate trackers (`report_to`), from the main process."""
        c, accelerator = self.config, self.accelerator
        main = accelerator.is_main_process
        store = self.store if main else None
        if store is not None:
            command = f"train ({c.steps} steps from step {self.step_index})"
            store.start_run("train", command, asdict(c), run_id=self.run_id)
        if accelerator.log_with:
            flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in asdict(c).items()}
            accelerator.init_trackers(self.run_id, config=flat)
        status = "failed"
        try:
            for _ in range(steps or c.steps - self.step_index):
                metrics = self.train_step()
                if c.eval_every and self.step_index % c.eval_every == 0 and main:
                    folder = Path(c.checkpoint_dir) if c.checkpoint_dir else None
                    grid = folder / f"eval-step-{self.step_index:06d}.png" if folder else None
                    metrics.update(self.evaluate(grid))
                if progress:
                    progress(metrics)
                if accelerator.log_with:
                    accelerator.log({k: v for k, v in metrics.items() if k != "step"}, step=self.step_index)
                if store is not None:
                    store.update_run(
                        self.run_id,
                        counts={"steps": self.step_index},
                        metrics={"config": asdict(c), "last": metrics, "alarms": self.monitor.alarms},
                        items=self.history,
                    )
                if c.checkpoint_dir and self.step_index % c.checkpoint_every == 0:
                    self.save(Path(c.checkpoint_dir) / f"step-{self.step_index:06d}.pt")
            status = "done"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            if accelerator.log_with:
                accelerator.end_training()
            if store is not None:
                store.update_run(self.run_id, status=status, counts={"steps": self.step_index}, finished=True)
        return self.history

    # 6. checkpoints: resuming reproduces the next step exactly

    def save(self, path: str | Path) -> bool:
        """Write a checkpoint from the main process (the others wait for it); True where written."""
        path = Path(path)
        written = False
        if self.accelerator.is_main_process:
            path.parent.mkdir(parents=True, exist_ok=True)
            model = self.accelerator.unwrap_model(self.policy.model)
            state = {
                name: tensor
                for name, tensor in model.state_dict().items()
                if self.config.full_finetune or "lora_" in name
            }
            rng = {
                "python": random.getstate(),
                "prompts": self.prompt_rng.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
            }
            torch.save(
                {
                    "model": state,
                    "optimizer": self.optimizer.state_dict(),
                    "step": self.step_index,
                    "updates": self.updates,
                    # gradients of an update still being accumulated, so a resume continues it exactly
                    # (after each step's last backward they are the same on every process)
                    "pending": {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None},
                    "ema": self.ema.state_dict() if self.ema is not None else None,
                    "history": self.history,
                    "config": asdict(self.config),
                    "rng": rng,
                },
                path.with_suffix(".tmp"),
            )
            path.with_suffix(".tmp").replace(path)  # a crash mid-write leaves the last checkpoint whole
            written = True
        self.accelerator.wait_for_everyone()
        return written

    def load(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such checkpoint")
        saved = torch.load(path, weights_only=False, map_location="cpu")
        model = self.accelerator.unwrap_model(self.policy.model)
        missing = model.load_state_dict(saved["model"], strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"{path}: checkpoint does not fit this model ({missing.unexpected_keys[:3]} ...)")
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step_index, self.history = saved["step"], saved["history"]
        self.updates = saved.get("updates", self.step_index)
        parameters = dict(model.named_parameters())
        for name, grad in saved.get("pending", {}).items():
            parameters[name].grad = grad.to(parameters[name].device)
        if self.ema is not None and saved.get("ema"):
            self.ema.load_state_dict(saved["ema"])
        random.setstate(saved["rng"]["python"])
        if "prompts" in saved["rng"]:
            self.prompt_rng.setstate(saved["rng"]["prompts"])
        np.random.set_state(saved["rng"]["numpy"])
        torch.set_rng_state(saved["rng"]["torch"])
