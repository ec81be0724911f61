"""The documentation site builds with ``mkdocs build --strict``: no broken links or anchors between pages, and
an API reference generated from the docstrings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # no banner about MkDocs 2 from mkdocs-material
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site), "-f", str(ROOT / "mkdocs.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("predict", "limits", "training", "experiments", "architecture", "implementation", "development"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="instrid.predict.Recognizer"' in api
    assert 'id="instrid.predict.Recognizer.predict"' in api
    assert "Instruments of one audio file" in api  # Recognizer.predict's docstring
    assert 'id="instrid.train.train"' in api and 'id="instrid.config.TrainConfig"' in api
