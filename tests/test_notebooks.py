"""The notebooks execute headless (nbclient, the project's own kernel) on fixture runs, started from a
working directory outside the repository (they find runs through redit.REPO_ROOT or REDIT_RUNS); every
legend's n is the number of distinct runs it draws; the committed notebooks carry their outputs."""

import json
import os
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from analysis_fixtures import step_records, write_fixture_runs, write_regime_runs, write_run

from redit import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = write_fixture_runs(tmp_path_factory.mktemp("nb-runs"), mp)
    write_regime_runs(root)
    # what a --quick grid leaves: schedule/'s GRPO run of seed 1 linked from main (the sweep's de-duplication),
    # and scope/'s own GRPO run of seed 0 with main's setting (another experiment, the same baseline once more)
    (root / "schedule" / "grpo-s1").symlink_to("../grpo-s1")
    shutil.copytree(root / "grpo-s0", root / "scope" / "grpo-s0")
    copy = root / "scope" / "grpo-s0" / "config.json"
    copy.write_text(json.dumps({**json.loads(copy.read_text()), "experiment": "scope", "variant": "grpo"}))
    write_run(root / "scope", "zero_var-s0", "gaussian", 0, step_records((0.4, 0.5, 0.6, 0.6, 0.6), (0.5,) * 8), scope="zero_var",
              experiment="scope", variant="zero_var")
    return root


# Injected before the notebook's first cell by the test only: records every legend's labels, which the last
# (injected) cell prints as JSON; the inline backend closes the figures after each cell.
RECORD_LEGENDS = """
import matplotlib.legend
LEGEND_LABELS = []
_legend_init = matplotlib.legend.Legend.__init__
matplotlib.legend.Legend.__init__ = lambda self, parent, handles, labels, *a, **k: (
    LEGEND_LABELS.extend(map(str, labels)), _legend_init(self, parent, handles, labels, *a, **k))[1]
"""


def execute(name, runs_root, monkeypatch, tmp_path):
    monkeypatch.setenv("REDIT_RUNS", str(runs_root))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(RECORD_LEGENDS))
    nb.cells.append(nbformat.v4.new_code_cell("import json; print('LEGENDS=' + json.dumps(LEGEND_LABELS))"))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def legends(nb):
    text = "".join(outputs(nb, "text"))
    return json.loads(text.split("LEGENDS=", 1)[1].splitlines()[0])


def assert_every_n_is_its_runs(labels):
    """A label "(n=K, seeds a b c)" draws one run per seed of an arm: K distinct runs, so K seeds."""
    counted = [(int(m.group(1)), m.group(2).split()) for m in map(re.compile(r"\(n=(\d+), seeds? ([^);]+)").search, labels) if m]
    assert counted, labels
    for n, seeds in counted:
        assert n == len(seeds) == len(set(seeds)), (n, seeds, labels)


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
    # the default pair is the one with the most gradient events: the regime's most saturated level (3 exact
    # zeros and one norm of 30 in GRPO's run; main's grpo-s0 has 3 events), not main
    assert "regime (max_number=20)" in text
    assert "n20-grpo-s0: 4 steps outside [0.01, 5]; 3 exactly zero" in text and "n20-redit-gaussian-s0: 0 steps outside" in text
    # the ranking, Figure 1, its zoom, then the distributions of EVERY experiment (not only main)
    assert len(outputs(nb, "image/png")) >= 2 + 6
    html = "".join(outputs(nb, "text/html"))
    assert "vanishing" in html and "exploding" in html and "n20-grpo-s0" in html  # the ranking and the event table
    labels = legends(nb)
    # histograms: one panel per arm AND level: the regime's GRPO has 1 / 2 / 3 exact zeros per run at max_number
    # 12 / 15 / 20 (3 seeds), never pooled into one "exactly 0: 18" panel; ReDit's arms have none
    zeros = sorted(int(t.split(": ")[1]) for t in labels if t.startswith("exactly 0:"))
    assert zeros == [1, 1, 3, 6, 9] and "exactly 0: 18" not in labels  # + grpo-s0 of main and of scope (one each)


def test_ablations_notebook_runs_on_fixture_runs(fixture_root, monkeypatch, tmp_path):
    nb = execute("ablations.ipynb", fixture_root, monkeypatch, tmp_path)
    markdown = "".join(outputs(nb, "text/markdown"))
    assert "| max_number=20 | grpo | 0.80 / 0.20 / 0.60 |" in markdown and "Slope of Δ(primary)" in markdown
    assert "Main results" in markdown and "Variance ablation" in markdown and "| tiny | redit-uniform | 0.1 |" in markdown
    assert len(outputs(nb, "image/png")) >= 4  # regime headline, accuracy vs step, variance, sigma per step
    labels = legends(nb)
    # the variance figure's band: the 3 GRPO runs of its setting (variance/ has none of its own), the linked
    # schedule/grpo-s1 and scope's copy of seed 0 counted once: n = 3, never 4 or 5
    assert "no dithering (n=3)" in labels
    assert "grpo (n=3, seeds 0 1 2)" in labels  # the main accuracy-vs-step baseline
    assert_every_n_is_its_runs(labels)


@pytest.mark.parametrize("name", ["gradient_norms.ipynb", "ablations.ipynb"])
def test_notebooks_are_committed_with_their_outputs(name):
    """Committed executed (jupyter nbconvert --execute --to notebook --inplace, REDIT_RUNS=../results/tiny/runs):
    every code cell ran, in order, without an error; figures as PNG; small; from the committed runs."""
    path = NOTEBOOKS / name
    assert path.stat().st_size < 2_000_000
    nb = json.loads(path.read_text())
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert all(cell["outputs"] for cell in code)
    assert not [out for cell in code for out in cell["outputs"] if out["output_type"] == "error"]
    images = [out["data"]["image/png"] for cell in code for out in cell["outputs"] if "image/png" in out.get("data", {})]
    assert len(images) >= 4 and all(len(png) < 400_000 for png in images)
    first = "".join(code[0]["outputs"][0]["text"])
    assert "runs from ../results/tiny/runs" in first and os.sep + "work" not in first  # no machine path
    source = "\n".join("".join(c["source"]) for c in code)
    assert "def " not in source  # cells call analysis; no copied functions
    assert "RUNS, runs = analysis.notebook_runs()" in "".join(code[0]["source"])  # one helper finds and loads the runs
    if name == "gradient_norms.ipynb":  # the default pair is the one with the most events, not main's (none)
        text = "".join("".join(out.get("text", "")) for cell in code for out in cell["outputs"])
        assert "regime (hardest)" in text and "hardest-grpo-s7: 33 steps outside" in text  # the registry's level name
