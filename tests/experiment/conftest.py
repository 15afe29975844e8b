"""The tiny-model fixtures of tests/conditioning, loaded by path (tests/ is not a package)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "fairskin_tests_tiny_fixtures_experiment", Path(__file__).resolve().parents[1] / "conditioning" / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)

small_demo = _mod.small_demo
small_labels = _mod.small_labels
tiny_conditioning = _mod.tiny_conditioning
