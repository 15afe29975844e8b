"""The real-photo figures of docs/label.md are the benchmark's: its headline table is what
``benchmarks/bench_real_photos.py --json docs/data/real_photos.json --doc docs/label.md`` wrote
from the run kept in docs/data (rerun that command after any change that moves them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_real_photos", REPO / "benchmarks" / "bench_real_photos.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_documented_table_is_the_kept_benchmark_run():
    bench = _bench()
    result = json.loads((REPO / "docs" / "data" / "real_photos.json").read_text())
    doc = (REPO / "docs" / "label.md").read_text()
    block = doc.split(bench.DOC_BEGIN, 1)[1].split(bench.DOC_END, 1)[0].strip()
    assert block == bench.doc_table(result)
    # every headline row of the table is there, baselines included (a constant cannot win kappa)
    assert block.count("\n") + 1 >= 2 + len(bench.DOC_ROWS) - 1
    assert "majority class" in block and "naive whole-image ITA" in block


def test_write_doc_replaces_only_the_marked_block(tmp_path):
    bench = _bench()
    result = {f: {"rows": {k: {"kappa": 0.1, "kappa_ci": [0.0, 0.2], "v_vi_share_error": 0.02,
                              "v_vi_share_error_ci": [0.0, 0.05], "coverage": 0.9}
                           for _, d, s in bench.DOC_ROWS for k in (d, s)}}
              for f in ("dev", "sample_all", "sample_unseen")}
    page = tmp_path / "label.md"
    page.write_text(f"before\n{bench.DOC_BEGIN}\nold table\n{bench.DOC_END}\nafter\n")
    bench.write_doc(page, result)
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old table" not in text
    assert "| majority class | 0.10 (0.00 to 0.20) | 2 (0 to 5) | 90% |" in text
