"""GRPO for flow-matching generators, on rewards from scrutiny verdicts (Flow-GRPO's recipe).

One step:
1. sample a group of images per prompt with the SDE sampler, keeping each step's log-probability;
   rewards of a group are computed in a worker thread while the next group samples;
2. advantages within each prompt group (abstentions are NaN, replaced by the group mean);
3. for every stored transition, recompute the step's mean under the current model, take the
   clipped-ratio loss and the KL to the reference (the same model with its LoRA adapter off),
   accumulate, clip the gradient norm, update.

Several GPUs or nodes: `accelerate launch -m scrutiny.cli train config.toml` (the trainer runs
under `accelerate.Accelerator`; each process samples its share of the groups and rewards are
gathered per group before advantages).
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from scrutiny.trainers.flow import Step, ddim_step, flow_sde_step, kl_to_reference, log_prob, sigmas
from scrutiny.trainers.rewards import group_advantages


@dataclass
class GRPOConfig:
    """Everything a run needs; load from TOML with `GRPOConfig.from_toml`."""

    prompts: list[str] = field(default_factory=lambda: ["a red square"])
    """Training prompts; each step draws `groups_per_step` of them."""
    group_size: int = 8
    """Images per prompt (G): advantages are relative within a group."""
    groups_per_step: int = 2
    """Prompt groups sampled per training step (each `group_size` images)."""
    steps: int = 40
    """Training steps to run (optimizer updates: `steps / gradient_accumulation`)."""
    sampling_steps: int = 10
    """Denoising steps per sample."""
    noise_level: float = 0.7
    """a in s = a·√(σ/(1−σ)); 0 gives the deterministic ODE."""
    train_window: tuple[int, int] | None = None
    """Sampling steps [start, end) that are stochastic and trained; the rest are ODE steps. None: all."""
    shift: float = 1.0
    """Timestep shift of the flow schedule, σ' = shift·σ / (1 + (shift − 1)·σ) (SD3 uses 3.0)."""
    clip_range: float = 1e-4
    """PPO clip on the likelihood ratio: updates move the ratio at most this far from 1 (Flow-GRPO: 1e-4)."""
    beta: float = 0.04
    """KL weight to the reference model (the same model with its LoRA adapter off); 0 switches it off.
    The KL is the exact one between the two step Gaussians, mean over elements."""
    learning_rate: float = 3e-4
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay (Flow-GRPO's 1e-4; torch's default would be 0.01)."""
    max_grad_norm: float = 1.0
    """Gradient norm clip before each update."""
    gradient_accumulation: int = 1
    """Training steps (each a full sample batch, every trained transition) whose gradients add up
    before one optimizer update."""
    advantage_std: Literal["group", "batch"] = "group"
    """Advantages are (reward − group mean) / std, the std of the group or of the whole batch."""
    advantage_clip: float = 5.0
    """Advantages are clipped to ±this."""
    lora_rank: int = 32
    """Rank of the LoRA adapter on the attention projections (see `lora_targets`)."""
    lora_alpha: int = 64
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    full_finetune: bool = False
    """Train every weight instead of a LoRA adapter (then there is no reference model: no KL)."""
    seed: int = 0
    """Seed of prompt choice and sampling noise; a run is reproducible from it."""
    checkpoint_dir: str | None = None
    """Where checkpoints, sample grids and the reward curve go (default: beside the config file)."""
    checkpoint_every: int = 10
    """Save a checkpoint every this many training steps."""

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("prompts is empty: give at least one training prompt")
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be at least 2 (advantages compare images of a group), got {self.group_size}"
            )
        for name in ("groups_per_step", "steps", "sampling_steps", "gradient_accumulation"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.noise_level <= 2:
            raise ValueError(f"noise_level must be in [0, 2] (0.7 is Flow-GRPO's), got {self.noise_level}")
        if self.train_window is not None:
            start, end = self.train_window
            if not 0 <= start < end <= self.sampling_steps:
                raise ValueError(
                    f"train_window must be [start, end) within 0..{self.sampling_steps}, got {self.train_window}"
                )
        if self.advantage_std not in ("group", "batch"):
            raise ValueError(f"advantage_std must be 'group' or 'batch', got {self.advantage_std!r}")

    @classmethod
    def from_toml(cls, path: str | Path) -> GRPOConfig:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such config file")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML ({e})") from None
        data = data.get("grpo", data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
        if "train_window" in data:
            data["train_window"] = tuple(data["train_window"])
        try:
            return cls(**data)
        except TypeError as e:
            raise ValueError(f"{path}: {e}") from None


class FlowPolicy(Protocol):
    """A generator GRPO can train: prompts to conditions, a denoising step, latents to images.

    `sampler` is "flow" (the policy gives `velocity`; SD3-style transformers) or "ddim" (the policy
    gives `noise_prediction` and `ddim_schedule`; UNet pipelines, DDPO).
    """

    model: torch.nn.Module
    latent_shape: tuple[int, int, int]
    sampler: Literal["flow", "ddim"]

    def condition(self, prompts: list[str]) -> Any: ...

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, condition: Any) -> torch.Tensor: ...

    def decode(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Rollout:
    prompts: list[str]
    latents: torch.Tensor  # [B, K+1, C, H, W] the trained steps' inputs and outputs
    log_probs: torch.Tensor  # [B, K]
    trained: list[int]  # the sampling steps that were stochastic (K of them)
    images: torch.Tensor  # [B, 3, H, W] in [0, 1]


RewardFn = Callable[[torch.Tensor, list[str]], Any]


def _takes_metadata(fn) -> bool:
    """Whether a reward function takes a third positional argument (Flow-GRPO's `metadata`)."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)


ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
"""Flow-GRPO's LoRA targets: the attention projections of a diffusers transformer or UNet."""


def lora_targets(model: torch.nn.Module) -> list[str]:
    """The modules LoRA adapts: a diffusers model's attention projections (not its time and text
    embedders, `pos_embed` or norms); any other model's Linear and Conv2d layers."""
    linear = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    attention = [n for n in linear if n.endswith(ATTENTION_PROJECTIONS)]
    return attention or linear


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
        from accelerate import Accelerator

        self.config = config
        self.policy = policy
        self.reward_fn = reward_fn
        self.store = store
        self.run_id = run_id or f"grpo-{config.seed}"
        # accumulation is counted here in training steps, not by accelerate in backward calls (one per
        # transition), so `gradient_accumulation` means what it says
        self.accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.device = self.accelerator.device
        self._seed(config.seed)
        if not config.full_finetune:
            self._add_lora()
        trainable = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
        policy.model, self.optimizer = self.accelerator.prepare(policy.model, self.optimizer)
        if policy.sampler == "ddim":
            self.ddim = policy.ddim_schedule(config.sampling_steps)  # [(t, alpha_bar_t, alpha_bar_prev)]
        else:
            self.schedule = sigmas(config.sampling_steps, config.shift, self.device)
        self.step_index = 0
        self.updates = 0
        """Optimizer updates made: one per `gradient_accumulation` training steps."""
        self.history: list[dict[str, float]] = []
        self.pool = ThreadPoolExecutor(max_workers=1)  # rewards run while the next group samples

    # 1. setup

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
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
        self.policy.model = get_peft_model(self.policy.model, config)
        # "gaussian" init puts noise in A and zeros in B: the adapter starts as the identity.

    def trained_steps(self) -> list[int]:
        """The stochastic steps: the train window, less DDIM steps whose variance is zero (the last
        one when the scheduler sets the final alpha to one) — they have no likelihood to train."""
        start, end = self.config.train_window or (0, self.config.sampling_steps)
        steps = list(range(start, end))
        if self.policy.sampler == "ddim":
            steps = [k for k in steps if self.ddim[k][2] < 1.0]
        if not steps:
            raise ValueError("no stochastic sampling step to train: widen train_window")
        return steps

    # 2. sampling with log-probabilities

    def step_distribution(self, x: torch.Tensor, k: int, condition: Any, stochastic: bool = True) -> Step:
        """The distribution of sampling step k from x; with `stochastic=False`, the ODE step (std 0)."""
        c = self.config
        noise = c.noise_level if stochastic else 0.0
        batch = x.shape[0]
        if self.policy.sampler == "ddim":
            t, alpha_bar, alpha_bar_prev = self.ddim[k]
            eps = self.policy.noise_prediction(x, torch.full((batch,), t, device=self.device), condition)
            return ddim_step(x, eps, alpha_bar, alpha_bar_prev, eta=noise)
        sigma, sigma_next = float(self.schedule[k]), float(self.schedule[k + 1])
        v = self.policy.velocity(x, torch.full((batch,), sigma, device=self.device), condition)
        return flow_sde_step(x, v, sigma, sigma_next, float(self.schedule[1]), noise)

    @torch.no_grad()
    def sample(self, prompts: list[str], generator: torch.Generator) -> Rollout:
        c = self.config
        condition = self.policy.condition(prompts)
        x = torch.randn(
            (len(prompts), *self.policy.latent_shape), generator=generator, device=self.device
        )  # [B, C, H, W]
        trained = self.trained_steps()
        kept, log_probs = [], []
        for k in range(c.sampling_steps):
            step = self.step_distribution(x, k, condition, stochastic=k in trained)
            if k not in trained:
                x = step.mean  # ODE outside the trained window
                continue
            x_next = step.mean + step.std * torch.randn(x.shape, generator=generator, device=self.device)
            kept.append(x)
            log_probs.append(log_prob(x_next, step))
            x = x_next
            if k == trained[-1]:
                kept.append(x)
        return Rollout(prompts, torch.stack(kept, dim=1), torch.stack(log_probs, dim=1), trained, self.policy.decode(x))

    # 3. rewards and advantages

    def rewards(self, rollout: Rollout) -> np.ndarray:
        if _takes_metadata(self.reward_fn):  # Flow-GRPO's (images, prompts, metadata): the judge's traces
            metadata = [{"run": self.run_id, "step": self.step_index} for _ in rollout.prompts]  # carry run and step
            out = self.reward_fn(rollout.images, rollout.prompts, metadata)
        else:
            out = self.reward_fn(rollout.images, rollout.prompts)
        scores = out[0] if isinstance(out, tuple) else out
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def advantages(self, rewards: np.ndarray, prompts: list[str]) -> tuple[torch.Tensor, dict[str, float]]:
        result = group_advantages(
            rewards, prompts, per=self.config.advantage_std, clip=self.config.advantage_clip
        )  # NaN → group mean: advantage 0
        return torch.tensor(result.values, dtype=torch.float32, device=self.device), {
            "abstain_rate": result.abstain_rate,
            "zero_std_groups": result.constant_groups,
        }

    # 4. the update

    def transition_step(self, rollout: Rollout, j: int, condition: Any) -> Step:
        """The step distribution of trained transition j under the current model."""
        return self.step_distribution(rollout.latents[:, j], rollout.trained[j], condition)

    def loss(
        self, rollout: Rollout, advantages: torch.Tensor, j: int, condition: Any
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        step = self.transition_step(rollout, j, condition)
        new_log_prob = log_prob(rollout.latents[:, j + 1], step)  # [B]
        ratio = torch.exp(new_log_prob - rollout.log_probs[:, j])  # [B]
        clipped = torch.clamp(ratio, 1 - c.clip_range, 1 + c.clip_range)
        policy_loss = torch.maximum(-advantages * ratio, -advantages * clipped).mean()
        kl = torch.zeros((), device=self.device)
        if c.beta > 0 and not c.full_finetune:
            with torch.no_grad(), self.accelerator.unwrap_model(self.policy.model).disable_adapter():
                reference = self.transition_step(rollout, j, condition).mean
            kl = kl_to_reference(step, reference).mean()
        stats = {
            "ratio": ratio.mean().item(),
            "clip_fraction": ((ratio - 1).abs() > c.clip_range).float().mean().item(),
            "kl": kl.item(),
        }
        return policy_loss + c.beta * kl, stats

    def train_step(self) -> dict[str, float]:
        """Sample, reward, and update once; returns the step's metrics."""
        c = self.config
        generator = torch.Generator(device=self.device).manual_seed(c.seed * 1_000_003 + self.step_index)
        prompts = [random.choice(c.prompts) for _ in range(c.groups_per_step)]
        rollouts, futures = [], []
        for prompt in prompts:
            rollout = self.sample([prompt] * c.group_size, generator)
            rollouts.append(rollout)
            futures.append(self.pool.submit(self.rewards, rollout))  # scored while the next group samples
        rewards = np.concatenate([f.result() for f in futures])
        batch = Rollout(
            [p for r in rollouts for p in r.prompts],
            torch.cat([r.latents for r in rollouts]),
            torch.cat([r.log_probs for r in rollouts]),
            rollouts[0].trained,
            torch.cat([r.images for r in rollouts]),
        )
        advantages, adv_stats = self.advantages(rewards, batch.prompts)
        condition = self.policy.condition(batch.prompts)
        self.policy.model.train()
        totals = {"loss": 0.0, "ratio": 0.0, "clip_fraction": 0.0, "kl": 0.0}
        share = len(batch.trained) * c.gradient_accumulation  # the mean over every transition of the update
        for j in range(len(batch.trained)):
            loss, stats = self.loss(batch, advantages, j, condition)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {self.step_index}, transition {j}")
            self.accelerator.backward(loss / share)
            totals["loss"] += loss.item() / len(batch.trained)
            for key, value in stats.items():
                totals[key] += value / len(batch.trained)
        updated = (self.step_index + 1) % c.gradient_accumulation == 0
        if updated:
            self.accelerator.clip_grad_norm_(
                [p for p in self.policy.model.parameters() if p.requires_grad], c.max_grad_norm
            )
            self.optimizer.step()
            self.optimizer.zero_grad()
            self.updates += 1
        self.policy.model.eval()
        finite = rewards[np.isfinite(rewards)]
        metrics = {
            "step": self.step_index,
            "reward_mean": float(finite.mean()) if finite.size else math.nan,
            "reward_std": float(finite.std()) if finite.size else math.nan,
            **totals,
            **adv_stats,
            "updated": float(updated),
        }
        self.history.append(metrics)
        self.step_index += 1
        return metrics

    def train(self, steps: int | None = None, progress: Callable[[dict], None] | None = None) -> list[dict[str, float]]:
        """Run `steps` steps (default: to `config.steps`). With a store, the run is recorded (kind
        "train": status, config, the metrics of every step) and the judge's traces carry its id and step."""
        store = self.store
        if store is not None:
            command = f"train ({self.config.steps} steps from step {self.step_index})"
            store.start_run("train", command, asdict(self.config), run_id=self.run_id)
        status = "failed"
        try:
            for _ in range(steps or self.config.steps - self.step_index):
                metrics = self.train_step()
                if progress:
                    progress(metrics)
                if store is not None:
                    store.update_run(
                        self.run_id,
                        counts={"steps": self.step_index},
                        metrics={"config": asdict(self.config), "last": metrics},
                        items=self.history,
                    )
                if self.config.checkpoint_dir and self.step_index % self.config.checkpoint_every == 0:
                    self.save(Path(self.config.checkpoint_dir) / f"step-{self.step_index:06d}.pt")
            status = "done"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            if store is not None:
                store.update_run(self.run_id, status=status, counts={"steps": self.step_index}, finished=True)
        return self.history

    # 5. checkpoints: resuming reproduces the next step exactly

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.policy.model)
        state = {
            name: tensor for name, tensor in model.state_dict().items() if self.config.full_finetune or "lora_" in name
        }
        torch.save(
            {
                "model": state,
                "optimizer": self.optimizer.state_dict(),
                "step": self.step_index,
                "updates": self.updates,
                # gradients of an update still being accumulated, so a resume continues it exactly
                "pending": {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None},
                "history": self.history,
                "config": asdict(self.config),
                "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
            },
            path,
        )

    def load(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such checkpoint")
        saved = torch.load(path, weights_only=False)
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
        random.setstate(saved["rng"]["python"])
        np.random.set_state(saved["rng"]["numpy"])
        torch.set_rng_state(saved["rng"]["torch"])


def reward_curve(
    history: list[dict[str, float]], path: str | Path, size: tuple[int, int] = (640, 360), title: str = ""
) -> Path:
    """A PNG of the mean reward per step, labelled: title, reward axis, first and last step
    (drawn with Pillow: no plotting library needed)."""
    from PIL import Image, ImageDraw

    steps = [(k + 1, h["reward_mean"]) for k, h in enumerate(history) if math.isfinite(h["reward_mean"])]
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 30, size[0] - 20, size[1] - 45
    draw.rectangle((left, top, right, bottom), outline=(180, 180, 180))
    draw.text((left, 8), title or "GRPO: mean reward per step", fill="black")
    draw.text((4, (top + bottom) // 2), "mean\nreward", fill=(90, 90, 90))
    if steps:
        values = [v for _, v in steps]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        first, last = steps[0][0], steps[-1][0]
        points = [
            (left + (right - left) * (k - first) / max(last - first, 1), bottom - (bottom - top) * (v - low) / span)
            for k, v in steps
        ]
        draw.line(points, fill=(28, 126, 214), width=2)
        draw.text((8, top), f"{high:.3f}", fill="black")
        draw.text((8, bottom - 10), f"{low:.3f}", fill="black")
        draw.text((left, bottom + 6), f"step {first}", fill="black")
        draw.text((right - 60, bottom + 6), f"step {last}", fill="black")
    draw.text((left + 120, bottom + 24), f"{len(steps)} steps", fill=(90, 90, 90))
    path = Path(path)
    image.save(path)
    return path


def sample_grid(trainer: GRPOTrainer, path: str | Path, per_prompt: int = 8, seed: int = 1234) -> Path:
    """A PNG of `per_prompt` samples of each training prompt (a row each), from fixed seeds, so grids
    saved before and after training show what the policy learned to draw, not only its reward."""
    from PIL import Image, ImageDraw

    rows = []
    for prompt in trainer.config.prompts:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            images = trainer.sample([prompt] * per_prompt, generator).images
        pixels = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        tiles = [Image.fromarray(p).resize((96, 96), Image.Resampling.NEAREST) for p in pixels]
        row = Image.new("RGB", (per_prompt * 100, 116), "white")
        for k, tile in enumerate(tiles):
            row.paste(tile, (k * 100 + 2, 18))
        ImageDraw.Draw(row).text((4, 2), prompt[:100], fill="black")
        rows.append(row)
    grid = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    for k, row in enumerate(rows):
        grid.paste(row, (0, k * 116))
    path = Path(path)
    grid.save(path)
    return path
