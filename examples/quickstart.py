"""Quickstart: make a few images with known flaws and let scrutiny judge them, offline.

    python examples/quickstart.py [--out scrutiny-quickstart]

1. a sign whose text is right, and one with a typo;
2. three red circles, and a picture with only two;
3. an edit that adds a green square, and one that also paints over something else;
4. what the cheapest images earn: noise, and the prompt written on a blank page.
Each verdict prints its scores, its critique (what was seen), and its trace id; look deeper with
`scrutiny traces show ID`. The images are saved so the CLI can judge them too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import scrutiny
from scrutiny.testing.hacks import text_canvas, uniform_noise
from scrutiny.testing.scenes import grid, preference_pairs, shapes, storefront


def show(title: str, verdict: scrutiny.Verdict) -> None:
    scores = ", ".join("abstain" if s is None else f"{s:.2f}" for s in verdict.scores)
    preferred = "" if verdict.preferred is None else f" → prefers candidate {verdict.preferred}"
    print(f"\n## {title}\nscores: {scores}{preferred}\n{verdict.critique}\ntrace: {verdict.trace_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("scrutiny-quickstart"), help="where to save the images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    judge = scrutiny.Judge()

    # 1. text rendering: the right spelling against a typo
    prompt = 'A storefront sign that says "OPEN 24 HOURS"'
    right, typo = storefront("OPEN 24 HOURS"), storefront("OPNE 24 HOURS")  # a sign in a scene
    right.save(args.out / "sign_right.png")
    typo.save(args.out / "sign_typo.png")
    show("one image: a sign with a typo", judge.judge(typo, prompt))
    show("two signs compared", judge.compare(typo, right, prompt))

    # 2. counting coloured shapes
    prompt = "three red circles on a white background"
    three, two = shapes(grid(3, "circle", "red", cell=90)), shapes(grid(2, "circle", "red", cell=90))
    three.save(args.out / "circles_three.png")
    two.save(args.out / "circles_two.png")
    show("counting: two against three circles", judge.compare(two, three, prompt))

    # 3. an edit, faithful or with collateral damage
    pair = preference_pairs("edit", 1, seed=3)[0]
    pair.source.save(args.out / "edit_source.png")
    pair.better.save(args.out / "edit_faithful.png")
    pair.worse.save(args.out / "edit_sloppy.png")
    show(
        f"edit: {pair.prompt!r}, faithful against sloppy",
        judge.edit(pair.source, [pair.better, pair.worse], pair.prompt),
    )

    # 4. degenerate images: whatever their content criteria say, a failed gate scores 0
    show("noise for 'an image with red in it'", judge.judge(uniform_noise(), "an image with red in it"))
    sign_prompt = 'A storefront sign that says "OPEN 24 HOURS"'
    show("the prompt written on a blank page", judge.judge(text_canvas(sign_prompt), sign_prompt))

    print(
        f"\nimages saved in {args.out}/; try: scrutiny judge {args.out / 'sign_typo.png'} "
        f"--prompt 'A storefront sign that says \"OPEN 24 HOURS\"'"
    )


if __name__ == "__main__":
    main()
