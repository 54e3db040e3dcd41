"""A user's ONNX class detector (YOLO / RT-DETR exports), with tiny ONNX graphs built in the test."""

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from scrutiny.tools.detect import DETECTORS, detect, register_detector  # noqa: E402
from scrutiny.tools.onnx_detector import YOLO_COCO, FromEnvironment, OnnxDetector  # noqa: E402


def constant_model(path, output: np.ndarray, side: int = 64, names: str | None = None):
    """A graph that reads a [1, 3, side, side] image and answers `output` (plus 0 x the image's mean)."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["answer", "nothing"], ["output0"]),
    ]
    init = [
        numpy_helper.from_array(output.astype(np.float32), "answer"),
        numpy_helper.from_array(np.float32(0), "zero"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "fake", [x], [y], init), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    if names:
        helper.set_model_props(model, {"names": names})
    onnx.save(model, str(path))
    return path


def yolo_v8(candidates, classes=80):
    """[1, 4 + C, N]: centre x, centre y, width, height in input pixels, then class scores."""
    out = np.zeros((1, 4 + classes, len(candidates)), np.float32)
    for n, (cls, score, box) in enumerate(candidates):
        out[0, :4, n] = box
        out[0, 4 + cls, n] = score
    return out


PERSON, DOG = YOLO_COCO.index("person"), YOLO_COCO.index("dog")


def test_yolo_boxes_come_back_in_image_pixels(tmp_path):
    out = yolo_v8(
        [
            (PERSON, 0.9, (16, 16, 16, 16)),
            (PERSON, 0.6, (17, 16, 16, 16)),  # the same person again: suppressed
            (DOG, 0.7, (48, 40, 16, 32)),
            (DOG, 0.1, (10, 50, 4, 4)),  # below the confidence floor
        ]
    )
    detector = OnnxDetector(constant_model(tmp_path / "yolov8n.onnx", out))
    assert detector.name == "coco" and detector.side == 64
    image = Image.new("RGB", (128, 64), "white")  # letterboxed to 64x32 inside the 64x64 input: scale 0.5
    found = {d.label: d for d in detector.detect(image, None)}
    assert set(found) == {"person", "dog"}
    assert found["person"].box == (16, 16, 48, 48) and found["person"].score == pytest.approx(0.9)
    assert found["dog"].box == (80, 48, 112, 64)  # clipped to the image
    assert [d.label for d in detector.detect(image, "puppy")] == ["dog"]  # queries go through COCO synonyms


def test_rt_detr_layout_names_from_metadata(tmp_path):
    out = np.zeros((1, 2, 4 + 2), np.float32)
    out[0, 0] = [0.25, 0.5, 0.5, 0.5, 0.0, 0.8]  # centre/size as fractions of the input; class 1
    out[0, 1] = [0.75, 0.5, 0.1, 0.1, 0.2, 0.1]
    path = constant_model(tmp_path / "widgets.onnx", out, names="{0: 'widget', 1: 'gadget'}")
    detector = OnnxDetector(path)
    assert detector.classes == ["widget", "gadget"] and detector.name == "widgets"  # not COCO: its own slot
    (found,) = detector.detect(Image.new("RGB", (64, 64)), None)
    assert (found.label, found.box, found.score) == ("gadget", (0, 16, 32, 48), 0.8)


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no detector file at .*missing\.onnx: export one") as e:
        OnnxDetector(tmp_path / "missing.onnx")
    assert "\n" not in str(e.value)
    wrong = constant_model(tmp_path / "wrong.onnx", np.zeros((1, 7, 3), np.float32))
    with pytest.raises(ValueError, match=r"output shape \[7, 3\] does not fit 80 classes"):
        OnnxDetector(wrong).detect(Image.new("RGB", (64, 64)), None)
    lazy = FromEnvironment(str(tmp_path / "nope.onnx"))
    with pytest.raises(FileNotFoundError, match="SCRUTINY_DETECTOR: no detector file"):
        lazy.detect(Image.new("RGB", (8, 8)), None)


def test_the_judge_uses_it_for_coco_objects(tmp_path, store):
    from scrutiny import Judge, JudgeConfig

    out = yolo_v8([(DOG, 0.95, (32, 32, 40, 40))])
    previous = DETECTORS.get("coco")
    register_detector(OnnxDetector(constant_model(tmp_path / "yolo.onnx", out)))
    try:
        call = detect.invoke({"image": "x", "detector": "coco"}, {"x": Image.new("RGB", (64, 64))})
        assert [d.detector for d in call.result.detections] == ["coco"]
        verdict = Judge(store=store, config=JudgeConfig(cache=False)).judge(Image.new("RGB", (64, 64)), "a dog")
        presence = next(s for s in verdict.criterion_scores if s.criterion == "object_1")
        assert presence.score >= 0.9 and "confidence 0.95" in presence.rationale
    finally:
        if previous is not None:
            register_detector(previous)
        else:
            DETECTORS.pop("coco", None)
