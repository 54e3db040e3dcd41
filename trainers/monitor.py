"""Seeing a reward being gamed: what a training run logs besides its reward, and when it raises an alarm.

A generator learns whatever raises its reward. When that is not what was asked for, the reward
rises while the content the judge saw met stays flat or falls, and the images drift in ways
a person would see at a glance: sharper and sharper, more and more colourful, more text, the same
picture again and again. Every step the trainer logs, next to the reward:

- `content_mean`: the mean content signal (what was asked for, seen: `rewards.signal_of`);
- `criterion/<id>`: the mean score of each criterion, for the curves of what is and is not met;
- `image/<stat>`: statistics of the sampled images (`image_statistics`);

and `GamingMonitor` compares the recent steps with the earlier ones: an alarm when the reward rose
while the content signal fell, or when an image statistic drifted far from where the run began.
Alarms go to `runs show`, the trackers (`gaming_alarms`) and the run's plot (`reward_curve`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scrutiny.agents.checks.degenerate import near_duplicates

IMAGE_STATS = ("sharpness", "colorfulness", "entropy", "duplicate_rate", "text_area")


def image_statistics(
    pixels: np.ndarray, groups: Sequence[str], text_area: np.ndarray | None = None
) -> dict[str, float]:
    """Means over a batch of uint8 images [B, H, W, 3]: sharpness (`1 - exp(-laplacian var / 150)`),
    colourfulness (Hasler and Süsstrunk's M as `M / (M + 40)`), entropy (of the gray histogram, in
    bits over 8), the share of samples that nearly copy another of their group, and the text area
    (the share of the image in OCR's boxes, where the judge read text)."""
    sharp, colour, entropy = [], [], []
    for image in pixels:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        sharp.append(1 - math.exp(-float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var()) / 150))
        rgb = image.astype(np.float32)
        rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        m = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
        colour.append(m / (m + 40))
        p = np.bincount(gray.ravel(), minlength=256) / gray.size
        entropy.append(float(-(p[p > 0] * np.log2(p[p > 0])).sum()) / 8)
    copies = near_duplicates([Image.fromarray(p) for p in pixels], list(groups))
    stats = {
        "sharpness": float(np.mean(sharp)),
        "colorfulness": float(np.mean(colour)),
        "entropy": float(np.mean(entropy)),
        "duplicate_rate": float(np.mean([c is not None for c in copies])),
    }
    if text_area is not None and np.isfinite(text_area).any():
        stats["text_area"] = float(np.nanmean(text_area))
    return stats


@dataclass
class GamingMonitor:
    """Alarms for a reward being gamed, from a run's per-step metrics.

    Args:
        window: steps compared: the last `window` against the `window` before them (reward against
            content), or against the run's first `window` (image statistics).
        rise: a reward rise (and a content fall) of at least this, in reward units, is a real one.
        drift: an image statistic further than this many baseline standard deviations (at least
            `drift_floor` in the statistic's units) from its baseline has drifted.
    """

    window: int = 5
    rise: float = 0.02
    drift: float = 4.0
    drift_floor: float = 0.05
    alarms: list[dict] = field(default_factory=list)

    def update(self, history: list[dict[str, float]]) -> list[str]:
        """The alarms the latest step raises (also appended to `alarms` with their step)."""
        found = []
        w = self.window
        if len(history) >= 2 * w:
            recent, before = history[-w:], history[-2 * w : -w]
            reward = _mean(recent, "reward_mean") - _mean(before, "reward_mean")
            content = _mean(recent, "content_mean") - _mean(before, "content_mean")
            if reward >= self.rise and content <= -self.rise:
                found.append(
                    f"reward rose {reward:+.3f} over the last {w} steps while the content signal fell {content:+.3f}"
                )
        if len(history) >= 2 * w:
            base, recent = history[:w], history[-w:]
            for stat in IMAGE_STATS:
                key = f"image/{stat}"
                values = [h[key] for h in base if math.isfinite(h.get(key, math.nan))]
                now = _mean(recent, key)
                if len(values) < w or not math.isfinite(now):
                    continue
                spread = max(float(np.std(values)) * self.drift, self.drift_floor)
                if abs(now - float(np.mean(values))) > spread:
                    found.append(f"{stat} drifted from {np.mean(values):.3f} to {now:.3f}")
        step = history[-1].get("step", len(history) - 1) if history else 0
        self.alarms.extend({"step": step, "alarm": a} for a in found)
        return found


def _mean(history: list[dict[str, float]], key: str) -> float:
    values = [h[key] for h in history if math.isfinite(h.get(key, math.nan))]
    return float(np.mean(values)) if values else math.nan


CRITERION_COLOURS = ((150, 110, 200), (220, 140, 40), (120, 120, 120), (200, 90, 150), (60, 170, 170))


def _axes(draw, frame: tuple[int, int, int, int], title: str) -> None:
    left, top, right, bottom = frame
    draw.rectangle(frame, outline=(180, 180, 180))
    draw.text((left, 8), title or "GRPO: mean reward per step", fill="black")
    draw.text((4, (top + bottom) // 2), "mean\nreward", fill=(90, 90, 90))


def _ticks(draw, frame: tuple[int, int, int, int], values: tuple[float, float], steps: tuple[int, int]) -> None:
    """The reward range at the left, the first and last step at the bottom."""
    left, top, right, bottom = frame
    draw.text((8, top), f"{values[1]:.3f}", fill="black")
    draw.text((8, bottom - 10), f"{values[0]:.3f}", fill="black")
    draw.text((left, bottom + 6), f"step {steps[0]}", fill="black")
    draw.text((right - 60, bottom + 6), f"step {steps[1]}", fill="black")


def _plot(draw, series: dict[str, list], criteria: list[str], frame: tuple[int, int, int, int], alarms: list) -> None:
    """The lines of a reward curve in its frame, scaled to every series' range, with its axis labels."""
    left, top, right, bottom = frame
    values = [v for points in series.values() for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    steps = series["reward_mean"]
    first, last = steps[0][0], steps[-1][0]

    def xy(k: float, v: float) -> tuple[float, float]:
        return left + (right - left) * (k - first) / max(last - first, 1), bottom - (bottom - top) * (v - low) / span

    for n, key in enumerate(criteria):
        colour = CRITERION_COLOURS[n % len(CRITERION_COLOURS)]
        if len(series[key]) > 1:
            draw.line([xy(k, v) for k, v in series[key]], fill=colour, width=1)
            draw.text((right + 8, top + 14 * n), key.removeprefix("criterion/")[:20], fill=colour)
    for key, colour in (("content_mean", (46, 160, 67)), ("reward_mean", (28, 126, 214))):
        if len(series[key]) > 1:
            draw.line([xy(k, v) for k, v in series[key]], fill=colour, width=2)
    for alarm in alarms:
        x = xy(alarm["step"] + 1, low)[0]
        draw.line([(x, bottom - 12), (x, bottom)], fill=(214, 40, 40), width=2)
    _ticks(draw, frame, (low, high), (first, last))


def reward_curve(
    history: list[dict[str, float]],
    path: str | Path,
    size: tuple[int, int] = (640, 360),
    title: str = "",
    alarms: list[dict] | None = None,
) -> Path:
    """A PNG of the mean reward per step (blue), the content signal where logged (green), each
    criterion's mean (thin, named at the right), and the steps that raised a gaming alarm (red
    ticks), labelled; drawn with Pillow."""
    from PIL import ImageDraw

    criteria = sorted({k for h in history for k in h if k.startswith("criterion/")})
    image = Image.new("RGB", (size[0] + (140 if criteria else 0), size[1]), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = frame = 60, 30, size[0] - 20, size[1] - 45
    _axes(draw, frame, title)
    series = {
        key: [(k + 1, h[key]) for k, h in enumerate(history) if math.isfinite(h.get(key, math.nan))]
        for key in ("reward_mean", "content_mean", *criteria)
    }
    steps = series["reward_mean"]
    if steps:
        _plot(draw, series, criteria, frame, alarms or [])
    legend = f"{len(steps)} steps; blue: reward" + ("; green: content" if series["content_mean"] else "")
    legend += f"; red: {len(alarms)} gaming alarms" if alarms else ""
    draw.text((left + 120, bottom + 24), legend, fill=(90, 90, 90))
    path = Path(path)
    image.save(path)
    return path
