"""The notebooks execute headless (nbclient, the project's own kernel) on fixture runs, started from a
working directory outside the repository (they find runs through redit.REPO_ROOT or REDIT_RUNS)."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

from analysis_fixtures import write_fixture_runs, write_regime_runs

from redit import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = write_fixture_runs(tmp_path_factory.mktemp("nb-runs"), mp)
    write_regime_runs(root)
    return root


def execute(name, runs_root, monkeypatch, tmp_path):
    monkeypatch.setenv("REDIT_RUNS", str(runs_root))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def outputs(nb, kind):
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "text" and out.get("name") == "stdout":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


def test_gradient_norms_notebook_runs_on_fixture_runs(fixture_root, monkeypatch, tmp_path):
    nb = execute("gradient_norms.ipynb", fixture_root, monkeypatch, tmp_path)
    text = "".join(outputs(nb, "text"))
    assert "grpo-s0: 3 steps outside [0.01, 5]" in text and "redit-gaussian-s0: 0 steps outside" in text
    assert "1 exactly zero" in text  # grpo-s0's last step
    # Figure 1, its zoom, then the distributions of EVERY experiment (not only main)
    assert len(outputs(nb, "image/png")) >= 2 + 5
    html = "".join(outputs(nb, "text/html"))
    assert "vanishing" in html and "exploding" in html  # the event table of grpo-s0


def test_ablations_notebook_runs_on_fixture_runs(fixture_root, monkeypatch, tmp_path):
    nb = execute("ablations.ipynb", fixture_root, monkeypatch, tmp_path)
    markdown = "".join(outputs(nb, "text/markdown"))
    assert "| max_number=20 | grpo | 0.80 / 0.20 / 0.60 |" in markdown and "Slope of Δ(primary)" in markdown
    assert "Main results" in markdown and "Variance ablation" in markdown and "| tiny | redit-uniform | 0.1 |" in markdown
    assert len(outputs(nb, "image/png")) >= 4  # regime headline, accuracy vs step, variance, sigma per step


@pytest.mark.parametrize("name", ["gradient_norms.ipynb", "ablations.ipynb"])
def test_notebooks_are_committed_without_outputs(name):
    nb = json.loads((NOTEBOOKS / name).read_text())
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in nb["cells"] if cell["cell_type"] == "code")
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "def " not in code  # cells call analysis; no copied functions
