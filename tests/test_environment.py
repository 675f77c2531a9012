"""The conda environment and the pip requirement files pin the same packages at the same versions."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pip_pins(path: Path) -> dict[str, str]:
    """Return {package: version} from a requirements file, following ``-r`` includes."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(pip_pins(path.parent / line[3:].strip()))
        elif line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
            pins[name.lower()] = version
    return pins


def test_environment_yml_matches_requirements() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {}
    for line in pip_section:
        if line.startswith("-e"):
            continue
        name, version = line.split("==")
        conda_pins[name.lower()] = version
    wanted = pip_pins(ROOT / "requirements-dev.txt") | pip_pins(ROOT / "requirements-book.txt")
    assert conda_pins == wanted


def test_torch_is_pinned_first() -> None:
    """An unpinned torch (or one pulled in by a later line) installs a multi-GB CUDA build."""
    lines = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert lines[0] == "torch==2.13.0"
