"""Reader-study fixtures: a balanced manifest with a known answer (real phantoms from
``write_demo_dataset``; "synthetic" phantoms rendered with other seeds, another size, format
and photo style, so that a leak of size, format or metadata would show), small studies, a
signed-in test client, and PostgreSQL when ``FAIRSKIN_TEST_POSTGRES_URL`` names a reachable
server (``.ci/start-postgres`` starts one)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("flask", reason="the reader extra (pip install 'fairskin[reader]') is not installed")
pytest.importorskip("sqlalchemy", reason="the reader extra (pip install 'fairskin[reader]') is not installed")

DIAGNOSES = ("melanocytic-nevi", "melanoma")
EVIL = "<script>alert(1)</script>"


def _interval(t: int) -> tuple[float, float]:
    from fairskin.skintone import DEFAULT_SCALE, get_scale

    lo, hi = get_scale(DEFAULT_SCALE).interval(t)
    return max(lo, -40.0), min(hi, 65.0)


def make_balanced(root: Path, *, n_real: int = 160, per_cell_syn: int = 6, seed: int = 3) -> Path:
    """``root/real`` (demo data set) and ``root/balanced/manifest.csv``: real rows point at it
    relative to the manifest (as ``fairskin balance`` writes them) plus synthetic rows."""
    from fairskin.data import DemoConfig, PhantomSpec, read_dataset, render_phantom, write_demo_dataset
    from fairskin.skintone import FST_TYPES

    real = root / "real"
    write_demo_dataset(real, DemoConfig(n=n_real, size=64, seed=seed, fst_weights=(1, 1, 1, 1, 1, 1)))
    df = read_dataset(real)
    out = root / "balanced"
    (out / "images").mkdir(parents=True)
    rows = [{"image": f"../real/{r.image}", "synthetic": False, "fst": int(r.fst_true), "diagnosis": r.diagnosis,
             "source": "ddi", "status": "ok"} for r in df.itertuples() if r.diagnosis in DIAGNOSES]
    rng = np.random.default_rng(seed)
    k = 0
    for t in FST_TYPES:
        for dx in DIAGNOSES:
            for i in range(per_cell_syn):
                rgb = render_phantom(PhantomSpec(ita=float(rng.uniform(*_interval(t))), diagnosis=dx, size=96,
                                                 style="clinical", seed=10_000 + k))
                name = f"images/syn_{t}_{dx}_{i}.png"
                Image.fromarray(rgb).save(out / name)
                rows.append({"image": name, "synthetic": True, "fst": t, "diagnosis": dx, "source": "synthetic",
                             "status": "ok"})
                k += 1
    path = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def balanced(tmp_path_factory) -> Path:
    return make_balanced(tmp_path_factory.mktemp("balanced-src"))


@pytest.fixture(scope="session")
def study_factory(balanced, tmp_path_factory):
    """``make(n=12, calibration=2, **config)`` -> a fresh study folder (64 px images)."""
    from dataclasses import replace

    from fairskin.reader_study import Questions, StudyConfig, create_study

    def make(n: int = 12, calibration: int = 2, *, questions: Questions = Questions(), **kw) -> Path:
        out = tmp_path_factory.mktemp("study")
        cfg = replace(StudyConfig(), n=n, n_calibration=calibration, image_size=64, questions=questions, **kw)
        create_study(balanced, out=out, config=cfg, progress=False)
        return out

    return make


class Client:
    """A Flask test client signed in with one token; knows the page's CSRF token and item."""

    def __init__(self, app, token: str | None):
        self.c = app.test_client()
        self.token = token
        if token:
            r = self.c.get(f"/r/{token}")
            assert r.status_code == 303, r.data[:300]
        self.csrf = ""

    def page(self, path: str = "/study"):
        r = self.c.get(path, follow_redirects=True)
        m = re.search(r'name="csrf" value="([^"]+)"', r.get_data(as_text=True))
        if m:
            self.csrf = m.group(1)
        return r

    def current_item(self) -> str | None:
        html = self.page("/study").get_data(as_text=True)
        m = re.search(r'name="item" value="([0-9a-f]{16})"', html)
        return m.group(1) if m else None

    def answer(self, item: str, **over):
        form = {"csrf": self.csrf, "item": item, "nonce": uuid.uuid4().hex, "origin": "real", "realism": "4",
                "confidence": "3", "diagnosis": "", "comment": "", "client_ms": "1500", **over}
        return self.c.post("/answer", data={k: v for k, v in form.items() if v is not None})


@pytest.fixture
def client_for():
    return Client


def _postgres_url() -> str:
    url = os.environ.get("FAIRSKIN_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip("FAIRSKIN_TEST_POSTGRES_URL is not set: run `eval \"$(bash .ci/start-postgres)\"` to test "
                    "the PostgreSQL store")
    return url


@pytest.fixture
def postgres_db():
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards), so parallel tests
    do not see each other's tables."""
    import sqlalchemy as sa

    from fairskin.reader_study._store import normalise_url

    base = _postgres_url()
    try:
        engine = sa.create_engine(normalise_url(base))
        with engine.begin() as conn:
            name = f"t_{uuid.uuid4().hex[:12]}"
            conn.execute(sa.schema.CreateSchema(name))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: skip, saying why
        pytest.skip(f"PostgreSQL at {base} is not reachable: {str(exc).splitlines()[0]}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{name}"
    with engine.begin() as conn:
        conn.execute(sa.schema.DropSchema(name, cascade=True))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each database the app supports: SQLite in a temporary folder, and PostgreSQL when available."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'answers.sqlite'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def evil() -> str:
    return EVIL
