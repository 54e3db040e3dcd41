"""The GRPO run's settings (`GRPOConfig`), read from TOML and checked."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from scrutiny.trainers.flow import KLForm


@dataclass
class GRPOConfig:
    """Everything a run needs; load from TOML with `GRPOConfig.from_toml`. Defaults follow
    Flow-GRPO's SD3 configuration (https://github.com/yifan123/flow_grpo, config/grpo.py)."""

    prompts: list[str] = field(default_factory=lambda: ["a red square"])
    """Training prompts; each step draws `groups_per_step` of them."""
    group_size: int = 24
    """Images per prompt (G): advantages are relative within a group (Flow-GRPO: 24)."""
    groups_per_step: int = 48
    """Prompt groups sampled per training step, over all processes together (Flow-GRPO: 48); must
    divide evenly among the processes."""
    steps: int = 40
    """Training steps to run (optimizer updates: `steps / gradient_accumulation`)."""
    sampling_steps: int = 10
    """Denoising steps per training sample (Flow-GRPO: 10)."""
    noise_level: float = 0.7
    """a in s = a·√(σ/(1−σ)) (DDIM: η); 0 gives the deterministic ODE."""
    train_window: tuple[int, int] | None = None
    """Sampling steps [start, end) that are stochastic; the rest are ODE steps. None: all."""
    timestep_fraction: float = 0.99
    """Share of the stochastic steps trained, the first ones (Flow-GRPO: 0.99 of 10 → 9, the last
    step is sampled with noise but not trained)."""
    shift: float | None = None
    """Timestep shift σ' = shift·σ / (1 + (shift − 1)·σ). None: the pipeline scheduler's own (SD3:
    3.0; FLUX: its dynamic shift), or 1.0 for a policy without a scheduler."""
    clip_range: float = 1e-4
    """PPO clip on the likelihood ratio: updates move the ratio at most this far from 1 (Flow-GRPO: 1e-4)."""
    beta: float = 0.04
    """KL weight to the reference model (the same model with its LoRA adapter off); 0 switches it off."""
    kl: KLForm = "flow_grpo"
    """KL form: "flow_grpo" is Flow-GRPO's ‖Δμ‖²/(2s²) (s: noise scale per unit time), so the
    paper's β transfers; "exact" is the KL of the two step Gaussians, 1/|Δ| times larger."""
    learning_rate: float = 3e-4
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay (Flow-GRPO's 1e-4; torch's default would be 0.01)."""
    max_grad_norm: float = 1.0
    """Gradient norm clip before each update."""
    gradient_accumulation: int = 1
    """Training steps (each a full sample batch, every trained transition) whose gradients add up
    before one optimizer update."""
    train_batch_size: int | None = None
    """Samples per forward and backward pass in the update (minibatches); None: all of a process's
    samples at once. Gradients are the same either way; smaller batches need less memory."""
    sample_batch_size: int | None = None
    """Samples per forward pass while sampling; None: a whole group at once."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (diffusers models): less memory, ~30% more time."""
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    """accelerate's autocast. None: "bf16" on a CUDA device that has it, else "no". Load the
    pipeline in the same dtype (`torch_dtype=torch.bfloat16`); the adapter stays float32."""
    advantage_std: Literal["group", "batch"] = "batch"
    """Advantages are (reward − prompt-group mean) / std, the std of the group or of the whole
    gathered batch (Flow-GRPO's default)."""
    advantage_clip: float = 5.0
    """Advantages are clipped to ±this."""
    reward_resolution: float = 0.0
    """A group whose rewards spread by no more than this gets advantage 0 rather than having std
    normalisation stretch the spread to the whole range. Whatever it is, a group whose content
    signal (a Flow-GRPO style reward's `info["signal"]`, as scrutiny's rewards return it) does not
    spread by more than it gets 0 too: its spread came from image quality alone (`group_advantages`)."""
    drop_zero_advantage: bool = True
    """Leave samples whose advantage is 0 (a group that all scored alike, an abstention) out of the
    loss mean, as Flow-GRPO does; a step where every sample has 0 makes no update."""
    lora_rank: int = 32
    """Rank of the LoRA adapter on the attention projections (see `lora_targets`)."""
    lora_alpha: int = 64
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    full_finetune: bool = False
    """Train every weight instead of a LoRA adapter (then there is no reference model: no KL)."""
    ema: bool = True
    """Keep an exponential moving average of the trained weights, used for evaluation and sample
    grids (Flow-GRPO: on)."""
    ema_decay: float = 0.9
    """EMA decay per EMA update (warmed up as min(decay, (1 + n)/(10 + n)))."""
    ema_every: int = 8
    """Optimizer updates between EMA updates (Flow-GRPO: 8)."""
    eval_every: int = 0
    """Evaluate every this many training steps (0: never): fixed seeds, no noise, `eval_steps`
    sampling steps; the mean reward is logged and a sample grid saved in `checkpoint_dir`."""
    eval_prompts: list[str] = field(default_factory=list)
    """Prompts to evaluate on (default: the training prompts)."""
    eval_samples: int = 4
    """Images per evaluation prompt."""
    eval_steps: int = 40
    """Sampling steps of an evaluation image (Flow-GRPO: 40)."""
    reward_workers: int = 2
    """Threads computing rewards while sampling goes on; a step's wait for them is logged as
    `reward_wait_s` and `reward_wait_share`."""
    reward_batch_size: int | None = None
    """Images per reward call, each scored as soon as it is sampled. None: a whole group per call,
    what a groupwise reward (pairwise win rate, ranking) needs. Smaller calls shorten the wait after
    the last group (only its last call is left to wait for)."""
    report_to: str | list[str] = "tensorboard"
    """accelerate trackers for the metrics ("tensorboard", "wandb", ..., or "none"); they write
    under `checkpoint_dir`/logs, so they are on only when `checkpoint_dir` is set."""
    seed: int = 0
    """Seed of prompt choice and sampling noise (each process adds its rank); a run is reproducible from it."""
    checkpoint_dir: str | None = None
    """Where checkpoints, sample grids, evaluation grids, tracker logs and the reward curve go
    (`scrutiny train`: default beside the config file)."""
    checkpoint_every: int = 10
    """Save a checkpoint every this many training steps."""

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("prompts is empty: give at least one training prompt")
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be at least 2 (advantages compare images of a group), got {self.group_size}"
            )
        for name in ("groups_per_step", "steps", "sampling_steps", "gradient_accumulation", "ema_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("train_batch_size", "sample_batch_size", "reward_batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or left out), got {getattr(self, name)}")
        for name in ("eval_every", "eval_samples", "eval_steps", "reward_workers"):
            if getattr(self, name) < (0 if name == "eval_every" else 1):
                raise ValueError(f"{name} is too small: {getattr(self, name)}")
        if not 0 <= self.noise_level <= 2:
            raise ValueError(f"noise_level must be in [0, 2] (0.7 is Flow-GRPO's), got {self.noise_level}")
        if not 0 < self.timestep_fraction <= 1:
            raise ValueError(f"timestep_fraction must be in (0, 1], got {self.timestep_fraction}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.shift is not None and self.shift <= 0:
            raise ValueError(f"shift must be positive, got {self.shift}")
        if self.train_window is not None:
            start, end = self.train_window
            if not 0 <= start < end <= self.sampling_steps:
                raise ValueError(
                    f"train_window must be [start, end) within 0..{self.sampling_steps}, got {self.train_window}"
                )
        if self.advantage_std not in ("group", "batch"):
            raise ValueError(f"advantage_std must be 'group' or 'batch', got {self.advantage_std!r}")
        if self.kl not in ("flow_grpo", "exact"):
            raise ValueError(f"kl must be 'flow_grpo' or 'exact', got {self.kl!r}")
        if self.mixed_precision not in (None, "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")

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
