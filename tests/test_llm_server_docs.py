"""The stand-in server's documentation runs: its docstring examples and its README section."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from types import ModuleType

import pytest

import hypergraph.testing
import hypergraph.testing.llm_server.server

pytestmark = pytest.mark.timeout(30)

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Testing without a provider"


@pytest.mark.parametrize(
    "module",
    [hypergraph.testing, hypergraph.testing.llm_server.server],
    ids=lambda module: module.__name__,
)
def test_docstring_examples_run_and_print_what_they_show(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0
    assert failed == 0


def test_the_readme_section_on_testing_without_a_provider_runs_as_written() -> None:
    text = README.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the section shows no Python code"
    for block in blocks:
        exec(compile(block, f"README.md ({SECTION})", "exec"), {})
