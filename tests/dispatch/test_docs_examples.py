"""The worked examples of docs/routes-and-failures.md run, and their assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "routes-and-failures.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_page_has_its_four_examples() -> None:
    assert len(BLOCKS) == 4
    headings = (
        "### Meta is down",
        "### A 429 storm",
        "### An ambiguous timeout",
        "### A second post behind the resend",
    )
    for heading in headings:
        assert heading in PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"{PAGE.name}[{index}]", "exec"), {"__name__": "docs_example"})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.strip(), "each example prints its result"
