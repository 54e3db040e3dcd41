"""Colour names as people use them, in CIELAB, fit on the XKCD colour survey; and an object's colour.

`name_pixels` names each pixel with one of `COLOR_NAMES`: a pixel of low chroma (C* below
`ACHROMATIC`) is black, gray or white by its lightness; any other takes the name most of its
`NEIGHBOURS` nearest survey colours have (CIELAB distance, lightness weighted by `L_WEIGHT`, since
shading moves lightness far more than hue). The survey colours are those of the 949 most common
names of the XKCD colour survey (Randall Munroe, 2010; public domain, CC0) whose name ends in a
chromatic basic colour word or a common name of one ("navy" blue, "teal" cyan, "maroon" red, "beige"
brown); a light colour of low chroma (cream, ivory) is white.

`object_colours` measures an object's colours on the object, not its box: GrabCut (OpenCV) cuts the
object from the box it was found in (the box's surroundings are background) and the object's pixels
are named; where the cut finds no plausible outline, the middle of the box stands in. It reports each
name's share and how the cut went. The scene's illumination is not taken out: a shades-of-grey
correction, tried on the training photos, moved a red cup on a warm table to brown and lost more
pairs than it won.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from scrutiny.tools.detect import COLOR_NAMES

SURVEY = {
    "blue": (
        "acc2d9 d4ffff 0c06f7 3778bf 2242c7 1f6357 507b9c 5684ae 3a2efe 26538d 7bf2da 107ab0 31668a 247afd 78d1b6 "
        "3a18b1 02066f 214761 3c73a8 021bf9 4b57db 015482 d6fffe 56fca2 3e82fc 4f738e cafffb 152eff 63f7b4 0339f8 "
        "c3fbf4 8b88f8 0203e2 0a437a 0e87cc c4fff7 bdf6fe 29465b c1c6fc 3f829d 016795 040348 4984b8 1805db 06b1c4 "
        "3b719f 9dbcd4 475f94 436bad 00022e 000435 42b395 0804f9 0d75f8 8ab8fe 02ccfe 155084 000133 2e5a88 26f7fd "
        "8af1fe 661aee 6140ef 276ab3 6488ea 056eee 004577 014182 3b5b92 01889f 3d7afd 5f34e7 658cbb 510ac9 010fcc "
        "8f99fb c6fcff 665fd1 01386a 5a86ad 04d9ff d7fffe 4e7496 d5ffff 448ee4 49759c 030aa7 02d8e9 a2bffe 06b48b "
        "0b8b87 632de9 b1d1fc 0652ff 5170d7 5e819d 601ef9 2c6fbb 020035 03719c 5a7d9a 047495 5b7c99 040273 6b8ba4 "
        "a2cffe d0fefe 01153e 0165fc 8e82fe 001146 0504aa 00035b 75bbfd 95d0fc 0343df"
    ),
    "brown": (
        "fcfc81 d99b82 d3b683 ad900d 7d7103 410200 c9d179 9a6200 8b3103 cba560 1d0200 ffe36e b2713d a75e09 ab7e4c "
        "6e1005 964e02 ae8b0c 673a3f 696006 947706 6b4247 ac7e04 876e4b bccb7a 886806 7f4e1e fffeb6 b25f03 c4a661 "
        "b17261 885f01 836539 7f5112 645403 7a5901 60460f b16002 7b5804 b27a01 7a6a4f 9b7a01 7f7053 544e03 b26400 "
        "b79400 411900 fbeeac b1916e a0450e ac9362 be6400 8b2e16 696112 3d1c02 a9561e af884a 7f2b0a b04e0f 341c02 "
        "ad8150 e6daa6 d1b26f 653700"
    ),
    "cyan": (
        "4c9085 5e9b8a 017374 0cb577 08787f 719f91 5f9e8f 00fbb0 41fdfe 2afeb7 017371 7bfdc7 00555a b7fffa b8ffeb "
        "32bf84 0bf9ea a5fbd5 0ffef9 82cbb2 01f9c6 8cffdb 05696b acfffc 0a888a 7ef4cc 045c5a 90e4c1 014d4e 04d8b2 "
        "13eac9 00ffff 06c2ac 029386"
    ),
    "green": (
        "56ae57 a8ff04 69d84f 70b23f 388004 61de2a 05ffa6 a6c875 a7ffb5 b2fba5 63b365 8ee53f b7e1a1 bdf8a3 6f6c0a "
        "009337 c8ffb0 a9be70 40fd14 b6c406 9dff00 c4fe82 2cfa1f 0cdc73 b1fc99 76fda8 53fe5c 4efd54 bcf5a6 90fda9 "
        "c2ff89 014600 96b403 089404 598556 8fae22 728f02 699d4c a0bf16 5c8b15 1bfc06 b6ffbb 606602 758000 6f7c00 "
        "21c36f 4b6113 4da409 b1d27b 9af764 a6fbb2 3eaf76 bffe28 8cff9e 94ac02 33b864 889717 75b84f 9cbb04 adf802 "
        "35ad6b cffdbc 0add08 87fd05 bcecac 548d44 3ae57f 87a922 25ff29 aeff6e 8f9805 51b73b 58bc08 2fef10 2dfe54 "
        "0aff02 35530a 48c072 50a747 04f489 20c073 9db92c 638b27 419c03 b1ff65 befd73 6ba353 02c14d 2a7e19 2bb179 "
        "ccfd7f 99cc04 019529 5cb200 6c7a0e 044a05 b9cc81 61e160 65fe08 84b701 5fa052 a8b504 3d9973 76a973 0bf77d "
        "2baf6a aefd6c 05480d 98f6b0 11875d 287c37 94b21c 9be5aa 8cfd7e 658d6d 005249 bff128 667c3e 94a617 062e03 "
        "7ebd01 748500 706c11 002d04 749551 b9ff66 9dc100 7efbb3 657432 08ff08 6fc276 8ffe09 4f9153 728639 3c4d03 "
        "25a36f 75fd63 21fc0d 048243 667e2c d1ffbd 02590f 89a203 7bb274 526525 028f1e 39ad48 a4be5c 7a9703 12e193 "
        "6a6e09 0a481e 82a67d 373e02 88b378 10a674 154406 76cd26 74a662 acbf69 b0dd16 87ae73 789b73 658b38 5ca904 "
        "0b4008 4b5d16 a9f971 b0ff9d 9ffeb0 8eab12 9aae07 02ab2e 7af9ab 137e6d 8fff9f c0fb2d 3f9b0b 0cff0c aaff32 "
        "53fca1 677a04 c7fdb5 6e750e 01ff07 06470c 033500 89fe05 96f97b 15b01a"
    ),
    "orange": (
        "ca6b02 fe4b03 f0833a c14a09 c45508 f0944d ff964f ffab0f ff724c cd5909 dc4d01 c87606 fb7d07 b96902 d8863b "
        "ff5b00 f8481c cb7723 fcb001 ffa756 fd3c06 c65102 fdaa48 c04e01 f97306"
    ),
    "pink": (
        "ff0789 dd85d7 e78ea5 ff63e9 ff6f52 ffb2d0 da467d c87f89 ff9a8a f6688e fb5ffc d1768f ff6163 d90166 c77986 "
        "fb5581 ffb19a fe828c ff69af c74767 c27e79 f36196 fff4f2 df4ec8 cd7584 ff0490 ff7fa7 fdc1c5 f075e6 c3909b "
        "c83cb9 fea993 ffc5cb fe02a2 de9dac fdb0c0 c88d94 ba6873 fa2a55 ca7b80 fe46a5 fe83cc cc7a8b ffbacd d5869d "
        "e03fd8 d58a94 b5485d ce5dae c85a53 fe2c54 fe019a f7879a fe7b7c ffb7ce cb0162 c0737a ffcfdc fe01b1 cf6275 "
        "ffd1df cb416b ff028d ff796c ff81c0"
    ),
    "purple": (
        "894585 952e8f 533cc6 966ebd ac86a8 430541 ca9bf7 720058 9900fa 751973 734a65 4e0550 8d5eb7 fed0fc a552e6 "
        "ad03de a442a0 c95efb 5d1451 3f012c 280137 805b87 895b7b 490648 a66fb5 c071fe 9d5783 e4cbff 76424e 2a0134 "
        "edc8ff c760ff f6cefc 6241c7 820747 a55af4 ad0afd 9e43a2 9e0168 cb00f5 c292a1 aa23ff eecffe 916e99 ceaefa "
        "a00498 9c6da5 825f87 dfc5fe 84597e 874c62 826d8c c94cbe db4bda 910951 887191 5d06e9 caa0ff 856798 34013f "
        "bc13fe 5729ce d6b4fc 703be7 380835 d648d7 b790d4 36013f 4b006e 580f41 be03fd cea2fd 35063e ae7181 c79fef "
        "9a0eea bf77f6 7e1e9c"
    ),
    "red": (
        "850e04 ff073a 8c0034 db5856 a90308 4b0101 af2f0d fe2f4a a50055 b9484e c0022f ec2d01 a8415b be013c 990147 "
        "f43605 770001 922b05 b0054b aa2704 fa4224 fe0002 f5054f f7022a d3494e bb3f3f fc2647 3c0008 9f2305 a24857 "
        "7b0323 9e3623 d9544d fd411e 9a0200 980002 80013f ff000d f10c45 8c000f ff474c 610023 8f1402 840000 650021 "
        "e50000"
    ),
    "yellow": (
        "c2b709 d0e429 fff917 fdde6c ffdf22 fdb915 fddc5c ffda03 fce166 ddd618 f1f33f bfac05 b29705 fafe4b fdee73 "
        "f7d560 fffd37 feff7f d0fe1d c7c10c cfff04 fffd74 d0c101 c6f808 ffad01 d5ab09 fffe71 fffe40 b59410 a88905 "
        "fdff38 eedc5b c9b003 c2be0e fec615 fffd01 cdc50a c9ff27 cdfd02 fffe7a ffff84 d2bd0a d5b60a dbb40c ceb301 "
        "ffff14"
    ),
}
"""Survey colours (hex RGB) by the basic name their survey name ends in."""

ACHROMATIC = 13.0
"""Chroma (C*) below which a colour is black, gray or white: the survey's greys have a median chroma
of 11, and nineteen in twenty of its named hues have more than 21."""
BLACK, WHITE = 22.0, 75.0
"""Lightness (L*, after the scene's illumination is taken out) below which an achromatic pixel is black,
above which it is white."""
PALE = 22.0
"""A light colour (L* above `WHITE`) of chroma below this is white: the survey's "off white" and "cream"
have chroma 14 and 31, and a white dog in warm light measures about 15-20."""
NEIGHBOURS = 5
L_WEIGHT = 0.5
NEAR = {
    "red": ("orange", "brown", "pink"), "orange": ("red", "brown", "yellow"), "yellow": ("orange",),
    "green": ("cyan",), "cyan": ("green", "blue"), "blue": ("cyan", "purple"), "purple": ("blue", "pink"),
    "pink": ("red", "purple"), "brown": ("orange", "red", "black"), "black": ("gray", "brown"),
    "gray": ("black", "white"), "white": ("gray",),
}  # fmt: skip
"""Names that light and shade move a colour into (a shaded orange measures brown, a lit grey white):
a measured neighbour of the colour asked leaves the colour unsettled, not wrong."""
CUT = (0.3, 0.9)
"""A cut that keeps less or more of the box than this did not find the object's outline (on the
training photos, cuts outside it took the background); the middle of the box is used instead."""
WORK_SIDE = 96
"""The object is cut at this size (its longer side, in pixels): colours do not need more."""


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L* 0-100, a*, b*) of uint8 RGB pixels, shape [..., 3]."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(rgb.shape)


TABLE = Path(__file__).with_name("colour_names.npy")
"""`compute_table()`, as shipped (1.5 s to compute on two cores; `python -m scrutiny.tools.colours` rewrites it)."""


@functools.cache
def _table() -> np.ndarray:
    """The name (index into COLOR_NAMES) of every RGB colour, 5 bits per channel (32,768 cells)."""
    return np.load(TABLE) if TABLE.is_file() else compute_table()


def compute_table() -> np.ndarray:
    """`_table` from the survey: each cell's name by its nearest survey colours, or black, gray or white."""
    names, colours = [], []
    for name, hexes in SURVEY.items():
        for h in hexes.split():
            names.append(COLOR_NAMES.index(name))
            colours.append([int(h[k : k + 2], 16) for k in (0, 2, 4)])
    survey = (_lab(np.array(colours, np.uint8)) * [L_WEIGHT, 1, 1]).astype(np.float32)
    labels = np.array(names)
    levels = (np.arange(32) * 8 + 4).astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _lab(grid)
    scaled = (lab * [L_WEIGHT, 1, 1]).astype(np.float32)
    distance = (scaled**2).sum(1)[:, None] + (survey**2).sum(1)[None] - 2 * scaled @ survey.T
    nearest = labels[np.argpartition(distance, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]]
    out = np.zeros((len(grid), len(COLOR_NAMES)), np.int32)
    np.add.at(out, (np.arange(len(grid))[:, None], nearest), 1)
    out = out.argmax(1)
    chroma, lightness = np.hypot(lab[:, 1], lab[:, 2]), lab[:, 0]
    grey = np.select([lightness < BLACK, lightness > WHITE], [0, 1], default=2)  # black, white, gray
    pale = (lightness > WHITE) & (chroma < PALE)  # cream, ivory, off-white: what people call a white object
    return np.where((chroma < ACHROMATIC) | pale, grey, out).astype(np.uint8)


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """The colour name (index into COLOR_NAMES) of each pixel of a uint8 RGB array [..., 3]."""
    q = rgb.astype(np.int32) >> 3
    return _table()[(q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]]


class ObjectColours(NamedTuple):
    shares: dict[str, float]
    """Each colour name's share of the object's pixels, largest first (shares of at least 2%)."""
    cut: float | None
    """The share of the box GrabCut kept as the object; 0 when it found no outline and the middle of the
    box was used; None when only the middle was measured."""


def object_colours(rgb: np.ndarray, box: tuple[int, int, int, int]) -> ObjectColours:
    """The colours of the object in `box` ([x1, y1, x2, y2] pixels of `rgb`), measured on the object."""
    x1, y1, x2, y2 = box
    h, w = rgb.shape[:2]
    mx, my = max(2, (x2 - x1) // 8), max(2, (y2 - y1) // 8)
    cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
    crop = np.ascontiguousarray(rgb[cy1:cy2, cx1:cx2])
    if crop.size == 0 or x2 - x1 < 4 or y2 - y1 < 4:
        return ObjectColours({}, 0.0)
    scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
    small = _shrink(crop, WORK_SIDE)
    rect = [round((x1 - cx1) * scale), round((y1 - cy1) * scale), round((x2 - x1) * scale), round((y2 - y1) * scale)]
    rect = [
        max(1, rect[0]),
        max(1, rect[1]),
        min(rect[2], small.shape[1] - rect[0] - 1),
        min(rect[3], small.shape[0] - rect[1] - 1),
    ]
    mask, cut = _grabcut(small, rect)
    if mask is None:  # the middle of the box, where the object more likely is than its background
        mask = np.zeros(small.shape[:2], bool)
        bx, by, bw, bh = rect
        mask[by + bh // 5 : by + bh - bh // 5, bx + bw // 5 : bx + bw - bw // 5] = True
    return ObjectColours(_shares(small[mask]), cut)


def middle_colours(rgb: np.ndarray, box: tuple[int, int, int, int]) -> ObjectColours:
    """The colours of the middle of a box (its central 60% each way, where the object more likely is
    than its background): the cheap measure, for objects no criterion asks the colour of."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) // 5, (y2 - y1) // 5
    middle = _shrink(np.ascontiguousarray(rgb[y1 + dy : y2 - dy or None, x1 + dx : x2 - dx or None]), WORK_SIDE)
    return ObjectColours(_shares(middle.reshape(-1, 3)), None)


def _shares(pixels: np.ndarray) -> dict[str, float]:
    if len(pixels) == 0:
        return {}
    counts = np.bincount(name_pixels(pixels), minlength=len(COLOR_NAMES)) / len(pixels)
    order = np.argsort(-counts)
    return {COLOR_NAMES[k]: round(float(counts[k]), 4) for k in order if counts[k] >= 0.02}


def _grabcut(small: np.ndarray, rect: list[int]) -> tuple[np.ndarray | None, float]:
    """The object's pixels inside `rect` by GrabCut, and their share of it; None where the cut kept
    almost nothing or almost everything (no object told from its surroundings)."""
    if rect[2] < 4 or rect[3] < 4:
        return None, 0.0
    mask = np.zeros(small.shape[:2], np.uint8)
    cv2.setRNGSeed(0)  # GrabCut starts its colour models with k-means from this thread's RNG: same image, same cut
    try:
        cv2.grabCut(
            cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, tuple(rect), np.zeros((1, 65)), np.zeros((1, 65)), 3,
            cv2.GC_INIT_WITH_RECT,
        )  # fmt: skip
    except cv2.error:
        return None, 0.0
    kept = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    share = float(kept.sum()) / max(rect[2] * rect[3], 1)
    return (kept, share) if CUT[0] <= share <= CUT[1] else (None, 0.0)


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


if __name__ == "__main__":
    np.save(TABLE, compute_table())
    print(f"wrote {TABLE.name}")
