"""The README's quick start runs as written (it is documentation users copy)."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.repository


def test_quick_start_runs():
    pytest.importorskip("torch")          # its last lines use initmath.nn (torch extra)
    text = README.read_text()
    block = re.search(r"## Quick start\s+```python\n(.*?)```", text, re.S)
    assert block, "README has no python quick-start block"
    exec(compile(block.group(1), "README quick start", "exec"), {})


def test_setup_block_has_exactly_two_commands():
    text = README.read_text()
    block = re.search(r"## Set up.*?```bash\n(.*?)```", text, re.S)
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2 and commands[1].startswith("python -m pytest")
