"""OWLv2 and CLIP tools, wired with tiny random-weight models built from config (no download)."""

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scrutiny.agents import rubric  # noqa: E402
from scrutiny.tools import open_vocab as hf  # noqa: E402
from scrutiny.tools.detect import DETECTORS, detect  # noqa: E402

pytestmark = pytest.mark.slow  # tiny OWLv2 and CLIP models built from config: the full suite runs them

TEXT = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
TEXT |= dict(
    max_position_embeddings=32, bos_token_id=0, eos_token_id=2, pad_token_id=1
)  # the word_tokenizer fixture's ids
VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=64, patch_size=16
)


def tiny_owl():
    torch.manual_seed(0)
    config = transformers.Owlv2Config(text_config=TEXT, vision_config=VISION, projection_dim=32)
    return transformers.Owlv2ForObjectDetection(config).eval()


def tiny_clip():
    torch.manual_seed(0)
    config = transformers.CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=32)
    return transformers.CLIPModel(config).eval()


class FixedOutput(torch.nn.Module):
    """OWLv2's interface with answers chosen by the test: patch 0 sees query 0 at a known box."""

    def __init__(self, config, boxes, logits):
        super().__init__()
        self.config = config
        self.boxes, self.logits = torch.tensor([boxes]), torch.tensor([logits])

    def forward(self, input_ids, pixel_values, attention_mask=None):
        assert pixel_values.shape[-2:] == (self.config.vision_config.image_size,) * 2
        return transformers.models.owlv2.modeling_owlv2.Owlv2ObjectDetectionOutput(
            logits=self.logits, pred_boxes=self.boxes
        )


def test_boxes_are_mapped_from_the_padded_square_back_to_pixels(word_tokenizer):
    # a 200x100 image is padded to 200x200: a box at the padded square's top-left quarter is (0, 0, 100, 100)
    model = FixedOutput(tiny_owl().config, [[0.25, 0.25, 0.5, 0.5], [0.75, 0.25, 0.2, 0.2]], [[4.0, -9.0], [-9.0, 0.0]])
    detector = hf.OwlDetector(model, word_tokenizer)
    found = detector.detect(Image.new("RGB", (200, 100)), "lamp, sofa")
    assert [(d.label, d.box) for d in found] == [("lamp", (0, 0, 100, 100)), ("sofa", (130, 30, 170, 70))]
    assert found[0].score == 1.0 and found[1].score == pytest.approx(detector.calibrate(0.5))  # sigmoid(0) = 0.5
    assert detector.calibrate(0.1) == pytest.approx(0.3) and detector.calibrate(0.3) == pytest.approx(0.8)


def test_a_tiny_random_owlv2_runs_end_to_end(word_tokenizer):
    detector = hf.OwlDetector(tiny_owl(), word_tokenizer, threshold=0.0)
    found = detector.detect(Image.new("RGB", (96, 48), "white"), "cat, dog")
    assert found and {d.label for d in found} <= {"cat", "dog"}
    for d in found:
        assert 0 <= d.box[0] < d.box[2] <= 96 and 0 <= d.box[1] < d.box[3] <= 48 and 0.0 <= d.score <= 1.0
    with pytest.raises(Exception, match="finds what a query names"):
        detector.detect(Image.new("RGB", (8, 8)), None)


def test_a_tiny_random_clip_gives_probabilities(word_tokenizer):
    scorer = hf.ClipScorer(tiny_clip(), word_tokenizer)
    probs = scorer.probabilities(Image.new("RGB", (80, 40), "red"), ["a red sofa", "a blue sofa", "a green sofa"])
    assert len(probs) == 3 and all(0 <= p <= 1 for p in probs) and sum(probs) == pytest.approx(1, abs=1e-4)


def test_missing_weights_are_one_line_and_never_a_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        RuntimeError, match="no detector weights for 'nobody/no-such-owl' in the local Hugging Face cache"
    ) as e:
        hf.OwlDetector("nobody/no-such-owl")
    assert "\n" not in str(e.value)


@pytest.fixture
def open_tools(word_tokenizer):
    hf.use(
        detector=hf.OwlDetector(tiny_owl(), word_tokenizer, threshold=0.0),
        scorer=hf.ClipScorer(tiny_clip(), word_tokenizer),
    )
    rubric._cached.cache_clear()
    yield
    DETECTORS.pop("open", None)
    hf.register_scorer(None)
    rubric._cached.cache_clear()


def test_criteria_become_checkable_and_are_scored(open_tools, store):
    from scrutiny import Judge, JudgeConfig

    criteria = {c.statement: c for c in rubric.synthesize("a happy lamp next to a cat, oil painting")}
    lamp, happy = criteria["The image shows a lamp"], criteria["The lamp is happy"]
    assert (
        lamp.checkable and lamp.check.detect == "open" and lamp.check.object == "lamp"
    )  # not a COCO class: the open detector finds it
    assert happy.checkable and criteria["The image is an oil painting"].checkable
    assert criteria["The happy lamp is next to the cat"].checkable  # boxes from two detectors
    verdict = Judge(store=store, config=JudgeConfig(cache=False)).judge(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)),
        "a happy lamp next to a cat, oil painting",
    )
    scores = {c.statement: s for c in verdict.rubric for s in verdict.criterion_scores if s.criterion == c.id}
    for statement in ("The image shows a lamp", "The lamp is happy", "The image is an oil painting"):
        assert scores[statement].score is not None and 0.0 <= scores[statement].score <= 1.0, scores[statement]
    tools = {(e.tool, e.arguments.get("detector")) for e in verdict.evidence}
    assert ("detect", "open") in tools and ("similarity", None) in tools
    queries = [e.arguments.get("query", "") for e in verdict.evidence if e.arguments.get("detector") == "open"]
    assert queries and "lamp" in queries[0].split(", ")  # asked for the check's own object
    call = detect.invoke({"image": "x", "detector": "open", "query": "lamp"}, {"x": Image.new("RGB", (64, 64))})
    assert call.error is None and all(d.detector == "open" for d in call.result.detections)
