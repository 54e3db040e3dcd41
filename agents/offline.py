"""The offline policy: a deterministic planner from criteria to tools, and scores from evidence.

No model, no GPU, no network: it is the embedded default and a real, verifiable reward (the
OCR reward of Flow-GRPO is of this kind). Step by step, like a careful critic:
1. read (OCR), find (detect), measure colours and quality, compare with the source (diff);
2. look closer where the first look was not conclusive: zoom into text that did not read as
   expected, and measure the region an edit changed;
3. read the zoomed text again.
Every score is computed from the evidence and every rationale says what was seen. Criteria no
tool here can check score None. What each kind of criterion needs and how it is scored lives in
its room (`agents/checks/`); this module plans the steps they ask for and dispatches.
"""

from __future__ import annotations

from collections import defaultdict

from scrutiny.agents import checks
from scrutiny.agents.checks import contrast, edit, objects, text
from scrutiny.agents.checks.evidence import FIND_PURPOSE, OPEN_PURPOSE, Scored, observations
from scrutiny.agents.state import JudgeState, Plan, Scores, ToolRequest
from scrutiny.core.schema import GATE_DIMENSIONS, Criterion, CriterionScore

NOT_OFFLINE = "not checkable offline; needs a vision-language judge"

STEPS: dict[str, tuple[str, dict]] = {
    "ocr": ("ocr", {}),
    "detect": ("detect", {}),
    "objects": ("detect", {"detector": "coco"}),
    "faces": ("detect", {"query": "face"}),
    "palette": ("palette", {}),
    "quality": ("quality", {}),
}
"""A planner step, the tool it calls and that tool's arguments besides the image; its purpose is the
key the rooms read the observation by."""
PURPOSES = {"ocr": "read", "palette": "colours", "quality": "quality"} | {
    step: FIND_PURPOSE[step] for step in ("detect", "objects", "faces")
}


class OfflinePolicy:
    name = "offline"
    model = None
    reads_skills = False
    """Skills reach the offline policy only through their params (`apply_skills`), never as text."""

    # 1. planning

    async def rubric(self, state: JudgeState, synthesized: list[Criterion]) -> list[Criterion]:
        return []  # offline, the deterministic synthesizer is the whole rubric

    async def plan(self, state: JudgeState) -> Plan:
        done = {(o.request.tool, o.request.candidate, o.request.purpose) for o in state.get("observations", [])}
        requests = []
        for i in range(len(state["task"].candidates)):
            for request in self._plan_candidate(state, i):
                if (request.tool, request.candidate, request.purpose) not in done:
                    requests.append(request)
        return Plan(requests)

    def _plan_candidate(self, state: JudgeState, i: int) -> list[ToolRequest]:
        """The first look each step the rubric needs takes at candidate `i`, then the closer looks the
        text and edit rooms ask for once they have seen it."""
        rubric = [c for c in state["rubric"] if c.checkable and c.dimension not in GATE_DIMENSIONS]
        by_step: dict[str, list[str]] = defaultdict(list)
        for c in rubric:
            for step in checks.steps(c):
                by_step[step].append(c.id)
        requests = _first_looks(state, i, rubric, by_step)
        seen = observations(state, i)
        if "ocr" in by_step:
            requests += text.look_closer(state, i, by_step["ocr"], seen)
        if "diff" in by_step:
            requests += edit.look_closer(state, i, by_step["diff"], seen, by_step.get("region_palette", []))
        if objects.FACES_IN_PERSON in by_step:
            requests += objects.look_closer(state, i, by_step[objects.FACES_IN_PERSON], seen)
        return requests

    # 2. scoring

    async def score(self, state: JudgeState) -> Scores:
        scores = []
        for i in range(len(state["task"].candidates)):
            seen = observations(state, i)
            for c in state["rubric"]:
                if c.dimension in GATE_DIMENSIONS:  # the judge measures gates itself, for every policy
                    continue
                value, rationale, used = checks.score(c, seen) if c.checkable else Scored(None, NOT_OFFLINE, [])
                scores.append(
                    CriterionScore(
                        criterion=c.id,
                        candidate=i,
                        score=None if value is None else round(float(value), 6),
                        evidence=[o.evidence.id for o in used],
                        rationale=rationale,
                        measures=checks.measures(c, used),
                    )
                )
        return Scores(scores)


def _first_looks(
    state: JudgeState, i: int, rubric: list[Criterion], by_step: dict[str, list[str]]
) -> list[ToolRequest]:
    """One request per step on candidate `i`, in a fixed order: read, find (shapes, objects, named
    things), compare with texts, faces, colours, quality, and the diff with the source."""
    name = f"candidate_{i}"
    requests = _plain(("ocr", "detect"), i, by_step)
    if "objects" in by_step:
        coloured = _coloured_classes(rubric, by_step["objects"])
        arguments = {"image": name, **STEPS["objects"][1], **({"colors_of": coloured} if coloured else {})}
        requests.append(ToolRequest("detect", arguments, i, by_step["objects"], PURPOSES["objects"]))
    if "open" in by_step:
        arguments = {"image": name, "detector": "open", "query": ", ".join(_open_nouns(rubric, by_step["open"]))}
        requests.append(ToolRequest("detect", arguments, i, by_step["open"], OPEN_PURPOSE))
    for c in rubric:
        if c.id in by_step.get("similarity", []):
            requests.append(
                ToolRequest("similarity", {"image": name, "texts": contrast.texts(c)}, i, [c.id], f"compare {c.id}")
            )
    requests += _plain(("faces", "palette", "quality"), i, by_step)
    if "diff" in by_step and "source" in state["images"]:
        requests.append(ToolRequest("diff", {"image": name, "source": "source"}, i, by_step["diff"], "changes"))
    return requests


def _plain(steps: tuple[str, ...], i: int, by_step: dict[str, list[str]]) -> list[ToolRequest]:
    """A request on candidate `i` for each of these steps the rubric needs (`STEPS` says how)."""
    return [
        ToolRequest(STEPS[step][0], {"image": f"candidate_{i}", **STEPS[step][1]}, i, by_step[step], PURPOSES[step])
        for step in steps
        if step in by_step
    ]


def _coloured_classes(rubric: list[Criterion], ids: list[str]) -> list[str]:
    """The classes whose colour these criteria ask (an object's colour, a relation's coloured subject
    or object): the detector measures those on the object, the rest in the middle of their box."""
    classes = []
    for c in rubric:
        if c.id not in ids:
            continue
        k = c.check
        pairs = [(getattr(k, "detect", None), k.value if k.kind == "attribute" else getattr(k, "color", None))]
        pairs += [(getattr(k, "subject_detect", None), getattr(k, "subject_color", None))]
        pairs += [(getattr(k, "object_detect", None), getattr(k, "object_color", None))]
        classes += [kind for kind, colour in pairs if kind and colour and kind not in classes]
    return [k for k in classes if k not in ("open", "face", "any", "background")]


def _open_nouns(rubric: list[Criterion], ids: list[str]) -> list[str]:
    """What the open-vocabulary detector is asked for: the noun of every object of these criteria that
    it is to find (a check's `detect`, a relation's `subject_detect` and `object_detect` say "open")."""
    nouns = []
    for c in rubric:
        if c.id in ids:
            for field, noun in (("detect", "object"), ("subject_detect", "subject"), ("object_detect", "object")):
                word = getattr(c.check, noun, None)
                if getattr(c.check, field, None) == "open" and word and word not in nouns:
                    nouns.append(word)
    return nouns
