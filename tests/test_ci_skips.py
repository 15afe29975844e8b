"""CI's rule on skips (tests/conftest.py): under FAIRSKIN_CI=1 a test skipped for want of something
.ci/run installs fails, saying why; a missing GPU or the full-size PAD-UFES-20 sample (not shipped)
may skip, and PostgreSQL may only while no server was started. Checked by running pytest on a folder of known skips with a copy of the conftest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SKIPS = '''
import pytest

def test_package():
    pytest.skip("selenium is not installed (pip install 'fairskin[test]')")

def test_gpu():
    pytest.skip("needs CUDA")

def test_postgres():
    pytest.skip("FAIRSKIN_TEST_POSTGRES_URL is not set: run .ci/start-postgres")

def test_full_pad(full_pad_sample):  # the conftest's own skip: the full-size sample is not shipped
    pass

def test_runs():
    assert True
'''
COLLECTION_SKIP = '''
import pytest
pytest.importorskip("a_module_nobody_has", reason="a_module_nobody_has is not installed")

def test_never():
    pass
'''


def _outcomes(folder: Path, **env: str) -> dict[str, str]:
    """Each test's outcome (passed / skipped / failed / error), from pytest's JUnit XML; collection
    errors do not stop the run, as in .ci/run."""
    xml = folder / "junit.xml"
    run_env = {k: v for k, v in os.environ.items() if k not in ("FAIRSKIN_CI", "FAIRSKIN_TEST_POSTGRES_URL",
                                                                   "FAIRSKIN_PAD_SAMPLE")}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                    "--continue-on-collection-errors", f"--junitxml={xml}", "--rootdir", str(folder), str(folder)],
                   cwd=folder, env={**run_env, **env}, capture_output=True, text=True, timeout=300)
    out = {}
    for case in ET.parse(xml).iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("skipped", "failure", "error")]
        out[case.get("name")] = {"skipped": "skipped", "failure": "failed", "error": "error"}.get(
            kinds[0] if kinds else "", "passed")
    return out


def _folder(tmp_path: Path) -> Path:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_skips.py").write_text(SKIPS)
    (tmp_path / "test_collection_skip.py").write_text(COLLECTION_SKIP)
    return tmp_path


def test_outside_ci_every_skip_is_a_skip(tmp_path):
    got = _outcomes(_folder(tmp_path))
    assert got == {"test_package": "skipped", "test_gpu": "skipped", "test_postgres": "skipped",
                   "test_full_pad": "skipped", "test_runs": "passed", "test_collection_skip": "skipped"}


def test_in_ci_only_a_missing_gpu_an_unstarted_postgres_or_the_full_pad_sample_may_skip(tmp_path):
    folder = _folder(tmp_path)
    got = _outcomes(folder, FAIRSKIN_CI="1")
    assert got == {"test_package": "failed", "test_gpu": "skipped", "test_postgres": "skipped",
                   "test_full_pad": "skipped", "test_runs": "passed", "test_collection_skip": "error"}
    text = (folder / "junit.xml").read_text()
    assert "skipped for want of something CI installs itself" in text and "selenium is not installed" in text
    # .ci/start-postgres started a server: now a PostgreSQL skip is a failure too
    got = _outcomes(folder, FAIRSKIN_CI="1", FAIRSKIN_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:1/x")
    assert got["test_postgres"] == "failed" and got["test_gpu"] == "skipped"
