"""Test-time refinement: generate, judge, critique, revise the prompt, regenerate, keep the best.

    python examples/refine_loop.py [--out scrutiny-examples/refine]

The generator here is `ToyGenerator`, a stand-in whose text rendering gets better the more
explicitly the prompt states the text (each restatement removes one typo). With a real model,
pass a diffusers pipeline instead:

    pipe = StableDiffusion3Pipeline.from_pretrained(..., torch_dtype=torch.bfloat16).to("cuda")
    result = scrutiny.refine(prompt, pipe, n=4, rounds=3)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import scrutiny
from scrutiny.testing.scenes import ToyGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("scrutiny-examples/refine"), help="where the images go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    prompt = 'A storefront sign that says "GRAND OPENING"'

    def progress(r) -> None:
        print(
            f"round {r.index + 1}: best {r.best_score:.3f} {'accepted' if r.accepted else 'rejected'}\n  prompt: {r.prompt}"
        )

    result = scrutiny.refine(prompt, ToyGenerator(), n=4, rounds=4, on_round=progress)
    print(f"\nstopped: {result.stop_reason}")
    print(f"best: round {result.best_round + 1}, image {result.best_index}, score {result.best_score:.3f}")
    print(result.best_verdict.critique)
    result.best_image.save(args.out / "best.png")
    for r in result.rounds:  # every round's images, to see the prompt's effect
        for k, image in enumerate(r.images):
            image.save(args.out / f"round{r.index + 1}_image{k}.png")
    print(f"best image saved to {args.out / 'best.png'}; every round's images beside it")


if __name__ == "__main__":
    main()
