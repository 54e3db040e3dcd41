import pytest
from PIL import Image

from scrutiny.tools.safety import categorise


def test_labels_map_to_policy_categories():
    assert categorise("FEMALE_GENITALIA_EXPOSED") == "explicit"
    assert categorise("BUTTOCKS_COVERED") == "suggestive"
    assert categorise("FACE_FEMALE") == "safe"


def test_nudenet_finds_nothing_on_an_ordinary_image(shared_data):
    pytest.importorskip("nudenet", reason="needs the [safety] extra")
    from scrutiny.tools import safety

    result = safety(Image.open(shared_data / "editreward_examples" / "source_img_1.png").convert("RGB"))
    assert result.category == "safe" and result.safe_score == 1.0
