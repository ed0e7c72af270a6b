"""Every notebook in notebooks/ runs top to bottom on the demo cache (nbclient, a real kernel)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_readme_names_the_notebooks_and_they_are_stored_executed():
    """The README promises a quick start, the paper's tables and a custom regression; each is a
    committed notebook whose cells carry their outputs (a reader sees results without running it)."""
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_quick_start", "02_paper_tables_with_intervals", "03_custom_regression"} <= names
    readme = (NOTEBOOKS[0].parents[1] / "README.md").read_text(encoding="utf-8")
    assert "notebooks/" in readme
    for path in NOTEBOOKS:
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert code and all(c.outputs for c in code), f"{path.name} is stored without its outputs"


def _shown(cells) -> list[str]:
    return [o.get("data", {}).get("text/plain", "") for c in cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "execute_result"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    """It runs, every cell shows something, and what it shows is what the stored copy shows (so the
    committed outputs are never stale numbers)."""
    notebook = nbformat.read(path, as_version=4)
    stored = _shown(notebook.cells)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(any(o.output_type == "execute_result" for o in cell.outputs) for cell in code)  # every cell shows something
    assert _shown(notebook.cells) == stored, f"{path.name}'s stored outputs differ from a fresh run: re-execute it"
