"""The reward adapters inside the real frameworks: TRL's own GRPOTrainer, verl's own reward managers
(in their side environment, see `.ci/side-envs`), Flow-GRPO's calling code (a harness that calls as
its `multi_score` and training loop do)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scrutiny import Judge, JudgeConfig
from scrutiny.testing.scenes import grid, shapes
from scrutiny.trainers.rewards import JudgeReward, trl_reward

REQUEST = "two circles"  # colour-blind: a tiny random model seldom names the colour first
VOCAB = "one two three red blue green circle circles square squares a of and".split()


def shape_painter(prompt: str, seed: int):
    """A toy text-to-image model: as many shapes as the prompt says "circle" or "square", in the first colour it names."""
    words = prompt.split()
    kind = (
        "square"
        if sum(w.startswith("square") for w in words) > sum(w.startswith("circle") for w in words)
        else "circle"
    )
    count = min(5, sum(w.startswith(kind) for w in words))
    color = next((w for w in words if w in ("red", "blue", "green")), "blue")
    return shapes(grid(count, kind, color, size=(384, 384), cell=80), size=(384, 384))


def word_tokenizer():
    """A word-level tokenizer over `VOCAB` (no hub); the verl script in the side environment uses it too."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: k + 4 for k, w in enumerate(VOCAB)}}
    words = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=words, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_causal_lm():
    transformers = pytest.importorskip("transformers")
    tokenizer = word_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    import torch

    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config), tokenizer


@pytest.mark.slow
def test_trl_grpo_trainer_trains_a_prompt_writer_on_judged_renderings(tmp_path, store):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    model, tokenizer = tiny_causal_lm()
    # partial credit for counts: a tiny random model rarely writes exactly two circles, and exact counts
    # would give every completion 0 (a reward with no signal for it to start from)
    judge = JudgeReward(judge=Judge(store=store, config=JudgeConfig(cache=False, counts="partial")))
    # the model writes prompts; the painter renders them; the judge holds each image to the request
    reward = trl_reward(judge, generator=shape_painter, request_column="request")
    seen: list[list[float | None]] = []

    async def judged(prompts, completions, **kwargs):
        scores = await reward(prompts, completions, **kwargs)
        seen.append(scores)
        return scores

    judged.__name__ = reward.__name__
    dataset = datasets.Dataset.from_dict({"prompt": ["a prompt for two red circles"] * 8, "request": [REQUEST] * 8})
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        temperature=1.0,
        beta=0.0,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[judged],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    scores = [s for batch in seen for s in batch]
    assert len(scores) >= 8 and all(s is None or 0.0 <= s <= 1.0 for s in scores)
    assert len({s for s in scores if s is not None}) > 1  # the rewards differ across completions
    logged = [entry for entry in trainer.state.log_history if "frac_reward_zero_std" in entry]
    assert logged and min(e["frac_reward_zero_std"] for e in logged) < 1.0  # some advantages are not zero


# verl: its own reward managers, in the side environment (verl 0.9.1 needs transformers < 5.11)

VERL_SCRIPT = r"""
import json, sys
import numpy as np
import torch
from verl import DataProto
from verl.workers.reward_manager import BatchRewardManager, NaiveRewardManager

sys.path.insert(0, sys.argv[1])
from test_frameworks import shape_painter, word_tokenizer
from scrutiny import Criterion, Judge, JudgeConfig
from scrutiny.trainers.rewards import JudgeReward, verl_batch_reward, verl_reward

tokenizer = word_tokenizer()

prompt = "two red circles"
responses = ["two red circle circle", "red circle", "one blue square", "two red circle circle circle"]
width = 6
def ids(text, left):
    t = tokenizer(text)["input_ids"][:width]
    pad = [1] * (width - len(t))
    return (pad + t, [0] * len(pad) + [1] * len(t)) if left else (t + pad, [1] * len(t) + [0] * len(pad))
p = [ids(prompt, True) for _ in responses]
r = [ids(x, False) for x in responses]
data = DataProto.from_dict(
    tensors={
        "prompts": torch.tensor([x[0] for x in p]),
        "responses": torch.tensor([x[0] for x in r]),
        "attention_mask": torch.tensor([a[1] + b[1] for a, b in zip(p, r)]),
    },
    non_tensors={
        "data_source": np.array(["shapes"] * 4, dtype=object),
        "reward_model": np.array([{"ground_truth": prompt}] * 4, dtype=object),
        "extra_info": np.array([{} for _ in responses], dtype=object),
    },
)
judge = JudgeReward(judge=Judge(config=JudgeConfig(cache=False)))
out = {}
for name, manager in {
    "naive": NaiveRewardManager(tokenizer, num_examine=0, compute_score=verl_reward(judge, generator=shape_painter)),
    "batch": BatchRewardManager(tokenizer, num_examine=0, compute_score=verl_batch_reward(judge, generator=shape_painter)),
}.items():
    result = manager(data, return_dict=True)
    tensor = result["reward_tensor"]
    out[name] = {
        "rewards": tensor.sum(-1).tolist(),
        "at_last_token": [int(torch.nonzero(row).max()) if row.any() else -1 for row in tensor],
        "lengths": [int(sum(x[1])) for x in r],
        "extra": {k: list(map(float, v)) for k, v in result["reward_extra_info"].items()},
    }
uncheckable = JudgeReward(judge=judge.judge, rubric=[Criterion(id="c", statement="The circles look happy", checkable=False)])
manager = NaiveRewardManager(tokenizer, num_examine=0, compute_score=verl_reward(uncheckable, generator=shape_painter, abstain_score=0.125))
out["abstained"] = manager(data).sum(-1).tolist()
print("RESULT " + json.dumps(out))
"""


def side_env(name: str) -> Path:
    """A side environment built by `.ci/side-envs` (skip, saying how, where it is missing)."""
    root = Path(os.environ.get("SCRUTINY_SIDE_ENVS") or Path.home() / ".cache" / "scrutiny" / "side-envs")
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    env = root / f"{name}-{tag}"
    if not (env / ".complete").exists():
        pytest.skip(f"the {name} side environment is not built: run .ci/side-envs ({env})")
    return env / "bin" / "python"


@pytest.mark.slow
def test_verl_reward_managers_call_our_compute_score(tmp_path):
    python = side_env("verl-0.9.1-k")
    env = {**os.environ, "SCRUTINY_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [str(python), "-c", VERL_SCRIPT, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for name in ("naive", "batch"):
        result = out[name]
        rewards = result["rewards"]
        assert all(np.isfinite(rewards)) and len(set(rewards)) > 1, result  # judged renderings differ
        assert rewards[0] == max(rewards)  # "two red circle circle": exactly what was asked
        # verl puts it on the last token (a reward of 0, a wrong count, leaves the row empty)
        assert result["at_last_token"] == [n - 1 if x else -1 for n, x in zip(result["lengths"], rewards)]
        assert rewards.count(0.0) < len(rewards)
        assert set(result["extra"]) == {"score", "abstained", "checked"}
    assert out["naive"]["rewards"] == out["batch"]["rewards"]
    assert out["abstained"] == [0.125] * 4  # an abstention is the configured value, never NaN


# Flow-GRPO: a harness that calls as `flow_grpo/rewards.py` `multi_score` and `scripts/train_sd3.py` do


class PerPromptStatTracker:
    """Flow-GRPO's `flow_grpo/stat_tracking.py`, as it normalises rewards per prompt ("grpo")."""

    def __init__(self):
        self.stats = {}

    def update(self, prompts, rewards):
        prompts, rewards = np.array(prompts), np.array(rewards, dtype=np.float64)
        advantages = np.zeros_like(rewards)
        for prompt in np.unique(prompts):
            self.stats.setdefault(prompt, []).extend(rewards[prompts == prompt])
        for prompt in np.unique(prompts):
            seen = np.stack(self.stats[prompt])
            advantages[prompts == prompt] = (rewards[prompts == prompt] - seen.mean()) / (seen.std() + 1e-4)
        return advantages


def three_parameter_reward(images, prompts, metadata):
    """Flow-GRPO's own rewards take three parameters (no `only_strict`) and convert a tensor batch as it does."""
    pixels = (images * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return pixels.astype(np.float32).mean(axis=(1, 2, 3)) / 255, {}


def four_parameter_reward(images, prompts, metadata, strict):
    return np.full(len(prompts), 1.0 if strict else 0.5, dtype=np.float32), {}


@pytest.mark.slow
def test_flow_grpo_training_loop_calls(store):
    from concurrent import futures

    import torch

    from scrutiny.trainers import rewards

    rewards.REWARD_FACTORIES["scrutiny_test"] = lambda: JudgeReward(
        name="scrutiny_test", judge=Judge(store=store, config=JudgeConfig(cache=False))
    )
    try:
        device = torch.device("cpu")
        reward_fn = rewards.multi_score(
            device,
            {"scrutiny_test": 0.6, "brightness": 0.2, "strictness": 0.2},
            extra={"brightness": three_parameter_reward, "strictness": four_parameter_reward},
        )
        prompts = ["two red circles"] * 4 + ["one blue square"] * 4
        cells = {"size": (256, 256), "cell": 60}  # shapes laid out on a 256-px canvas
        drawn = [
            grid(2, "circle", "red", **cells),
            grid(3, "circle", "red", **cells),
            grid(1, "square", "blue", **cells),
            grid(2, "circle", "red", size=(256, 256), cell=50),  # not a copy of the first: copies score 0
        ]
        pictures = [shapes(d, size=(256, 256)) for d in drawn] * 2
        # the pipeline's output_type="pt" under bf16 mixed precision: [B, 3, H, W] in [0, 1]
        images = (
            torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in pictures]).to(torch.bfloat16) / 255
        )
        metadata = [{} for _ in prompts]
        executor = futures.ThreadPoolExecutor(max_workers=8)
        pending = executor.submit(reward_fn, images, prompts, metadata, only_strict=True)  # while sampling goes on
        scores, reward_metadata = pending.result()
        batch = {key: torch.as_tensor(value, device=device).float() for key, value in scores.items()}
        gathered = {key: value.cpu().numpy() for key, value in batch.items()}  # accelerator.gather on one process
        advantages = PerPromptStatTracker().update(prompts, gathered["avg"])
        assert set(gathered) == {"scrutiny_test", "brightness", "strictness", "avg"} | {
            f"{n}_abstained" for n in ("scrutiny_test", "brightness", "strictness")
        }
        assert all(v.shape == (8,) and np.isfinite(v).all() for v in gathered.values())
        assert gathered["scrutiny_test"][0] > gathered["scrutiny_test"][1]  # two red circles, not three
        assert np.abs(advantages).max() > 0 and np.isfinite(advantages).all()
        assert (gathered["strictness"] == 1.0).all()
        evaluation, _ = executor.submit(reward_fn, images, prompts, metadata, only_strict=False).result()  # eval
        assert (evaluation["strictness"] == 0.5).all()
        executor.shutdown()
    finally:
        del rewards.REWARD_FACTORIES["scrutiny_test"]


# vLLM: the command lines `scrutiny serve` builds, fed to vLLM's own argument parser (side environment)

VLLM_SCRIPT = r"""
import json, sys
from vllm.entrypoints.common.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser

plan = json.loads(sys.stdin.read())
out = []
for server in plan:
    command = server["command"]
    assert command[1] == "serve", command
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(command[2:])
    row = {k: getattr(args, k, None) for k in (
        "model_tag", "port", "host", "served_model_name", "max_model_len", "limit_mm_per_prompt",
        "enable_prefix_caching", "gpu_memory_utilization", "tensor_parallel_size", "enable_auto_tool_choice",
        "tool_call_parser", "reasoning_parser", "mm_processor_kwargs", "trust_remote_code")}
    from vllm.tool_parsers import ToolParserManager
    from vllm.reasoning import ReasoningParserManager
    row["registered"] = (
        args.tool_call_parser in (None, *ToolParserManager.list_registered())
        and args.reasoning_parser in (None, "", *ReasoningParserManager.list_registered())
    )
    out.append(row)
try:
    make_arg_parser(FlexibleArgumentParser()).parse_args(["m", "--no-such-flag"])
    out.append("unknown flags pass")
except SystemExit:
    out.append("unknown flags rejected")
print("RESULT " + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def vllm_parsed():
    """The command lines `scrutiny serve --dry-run` prints, parsed by vLLM's own parser in one process (it
    takes about 25 s to import): four GPUs at tensor-parallel 2, then one server per model family."""
    from typer.testing import CliRunner

    from scrutiny.agents.families import FAMILIES
    from scrutiny.cli import app

    python = side_env("vllm-0.33.0")
    runs = [["/models/qwen-vl", "--gpus", "0,1,2,3", "--tp", "2"]]
    runs += [["/models/m", "--gpus", "0", "--family", family.name] for family in FAMILIES]
    plan = []
    for args in runs:
        dry = CliRunner().invoke(app, ["serve", *args, "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        plan += json.loads(dry.stdout)
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
    done = subprocess.run(
        [str(python), "-c", VLLM_SCRIPT], input=json.dumps(plan), capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    return parsed[:2], dict(zip((f.name for f in FAMILIES), parsed[2:-1])), parsed[-1]


@pytest.mark.slow
def test_serve_command_lines_pass_vllms_own_parser(vllm_parsed):
    (first, second), _, strict = vllm_parsed
    assert strict == "unknown flags rejected"  # the parser is strict, so every flag above exists
    assert first["model_tag"] == "/models/qwen-vl" and (first["port"], second["port"]) == (8000, 8001)
    assert first["tensor_parallel_size"] == 2 and first["limit_mm_per_prompt"] == {"image": 16}
    assert first["enable_auto_tool_choice"] and first["tool_call_parser"] == "hermes"
    assert first["served_model_name"] == ["qwen-vl"] and first["enable_prefix_caching"] is True
    assert first["registered"] and second["registered"]  # every parser named exists in this vLLM


@pytest.mark.slow
def test_every_family_preset_passes_vllms_own_parser(vllm_parsed):
    """Each family's flags (`scrutiny serve --family`): parsed, and every tool and reasoning parser they
    name registered in that vLLM."""
    from scrutiny.agents.families import FAMILIES

    _, by_family, _ = vllm_parsed
    assert len(by_family) == len(FAMILIES) and all(row["registered"] for row in by_family.values())
    for family in FAMILIES:
        row = by_family[family.name]
        assert row["tool_call_parser"] == family.tool_parser and bool(row["enable_auto_tool_choice"]) == bool(
            family.tool_parser
        )
        assert (row["reasoning_parser"] or None) == family.reasoning_parser
    assert by_family["qwen2.5-vl"]["mm_processor_kwargs"] == {"min_pixels": 200704, "max_pixels": 1003520}
    assert by_family["glm-4.5v"]["reasoning_parser"] == "glm45" and by_family["internvl3"]["trust_remote_code"]
