"""Benchmarks of ``fairskin reader-study``.

1. Answer latency: the server (``fairskin reader-study serve``, waitress, its own process) on the
   loopback address; 20 simulated readers at once, each submitting 100 answers through the JSON
   API the way the page does (GET the next image, POST the answer; the POST returns after the
   commit). Twice: with no pause between answers (a stress test: latency is then the queue of
   20 readers, about 20 / throughput), and with each reader pausing 100-300 ms before an answer
   (still far faster than a person, who takes seconds per image). Printed: p50 / p95 / p99 / max of the POST (the answer latency; target p95 < 100 ms)
   and of the whole GET + POST cycle, answers per second, and the check that no answer was lost
   or stored twice (2,000 rows, one per reader x image, positions 0-99 per reader). For SQLite
   (WAL, synchronous=FULL) and for PostgreSQL when ``--postgres-url`` or
   ``$FAIRSKIN_TEST_POSTGRES_URL`` names a server (``eval "$(bash .ci/start-postgres)"``).
2. Interval coverage: the crossed-bootstrap 95% interval of pooled accuracy on simulated studies
   with a known truth (fairskin.reader_study.COVERAGE_SCENARIOS), and how often the test against
   50% rejects at the 5% level.

Run: ``python benchmarks/bench_reader_study.py`` (``--quick`` for a smoke run, ``--skip latency``
or ``--skip coverage`` to leave a part out). The figures measured on this project's machine are
in docs/reader-study.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(root: Path, per_cell: int, size: int = 48) -> Path:
    """An image folder (metadata.csv with an origin column): per skin type x diagnosis cell,
    ``per_cell`` real and ``per_cell`` 'synthetic' phantoms (other seeds, clinical style)."""
    from PIL import Image

    from fairskin.data import PhantomSpec, render_phantom
    from fairskin.skintone import DEFAULT_SCALE, FST_TYPES, get_scale

    root.mkdir(parents=True)
    rows, k = [], 0
    for t in FST_TYPES:
        lo, hi = get_scale(DEFAULT_SCALE).interval(t)
        ita = (max(lo, -40) + min(hi, 65)) / 2
        for dx in ("melanocytic-nevi", "melanoma"):
            for origin, style in (("real", "dermoscopy"), ("synthetic", "clinical")):
                for _ in range(per_cell):
                    name = f"{k:05d}.png"
                    Image.fromarray(render_phantom(PhantomSpec(ita=ita, diagnosis=dx, size=size, style=style,
                                                               seed=k))).save(root / name)
                    rows.append({"file_name": name, "origin": origin, "fst": t, "diagnosis": dx})
                    k += 1
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(study: Path, db: str, port: int, threads: int) -> subprocess.Popen:
    import requests

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "fairskin", "reader-study", "serve", str(study), "--db", db,
                             "--port", str(port), "--threads", str(threads)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def _reader(base: str, token: str, n: int, post_ms: list, cycle_ms: list, errors: list, start: threading.Barrier,
            pause: tuple[float, float]):
    import requests

    rng = np.random.default_rng(abs(hash(token)) % 2**32)
    s = requests.Session()
    s.get(f"{base}/r/{token}", allow_redirects=False, timeout=60)
    s.headers["Accept"] = "application/json"
    s.headers["X-CSRF-Token"] = s.get(f"{base}/api/next", timeout=60).json()["csrf"]
    s.post(f"{base}/calibration", allow_redirects=False, timeout=60)
    start.wait()
    for _ in range(n):
        if pause[1] > 0:
            time.sleep(rng.uniform(*pause))  # the reader looks at the image
        t0 = time.perf_counter()
        item = s.get(f"{base}/api/next", timeout=60).json()["item"]
        body = {"item": item, "origin": "real" if np.random.random() < 0.5 else "synthetic",
                "realism": int(np.random.randint(1, 8)), "confidence": int(np.random.randint(1, 6)),
                "nonce": uuid.uuid4().hex}
        t1 = time.perf_counter()
        r = s.post(f"{base}/answer", json=body, timeout=60)
        t2 = time.perf_counter()
        if r.status_code != 200 or r.json().get("status") != "stored":
            errors.append(f"{r.status_code} {r.text[:200]}")
        post_ms.append((t2 - t1) * 1000)
        cycle_ms.append((t2 - t0) * 1000)


def latency(label: str, db: str, study: Path, *, readers: int, answers: int, threads: int,
            pause: tuple[float, float] = (0.0, 0.0)) -> None:
    from fairskin.reader_study import invite_readers
    from fairskin.reader_study._store import open_store

    invites = [i for i in invite_readers(study, readers=readers, db=db) if i.role == "reader"]
    port = _free_port()
    proc = _serve(study, db, port, threads)
    post_ms, cycle_ms, errors = [], [], []
    barrier = threading.Barrier(readers + 1)
    ts = [threading.Thread(target=_reader, args=(f"http://127.0.0.1:{port}", i.token, answers, post_ms, cycle_ms,
                                                 errors, barrier, pause)) for i in invites]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    proc.terminate()
    proc.wait(timeout=30)
    store = open_store(study, db=db)
    df = store.answers_frame()
    store.dispose()
    dup = int(df.duplicated(["reader", "item"]).sum())
    contiguous = all(sorted(g) == list(range(answers)) for _, g in df.groupby("reader")["position"])
    p = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    mode = (f"each pausing {pause[0] * 1000:.0f}-{pause[1] * 1000:.0f} ms before an answer" if pause[1] > 0
            else "no pause: a stress test, every reader answers as fast as the server replies")
    print(f"\n[{label}] {readers} readers x {answers} answers at once, {mode}; server threads {threads}, "
          f"wall {wall:.1f} s, {len(post_ms) / wall:.0f} answers/s")
    print(f"  answer POST (commit included): p50 {p(post_ms, 50):.1f} ms, p95 {p(post_ms, 95):.1f} ms, "
          f"p99 {p(post_ms, 99):.1f} ms, max {max(post_ms):.1f} ms")
    print(f"  GET next + POST answer cycle:  p50 {p(cycle_ms, 50):.1f} ms, p95 {p(cycle_ms, 95):.1f} ms, "
          f"p99 {p(cycle_ms, 99):.1f} ms")
    ok = len(df) == readers * answers and dup == 0 and contiguous and not errors
    print(f"  stored {len(df)} of {readers * answers}; duplicates {dup}; positions 0-{answers - 1} per reader: "
          f"{contiguous}; failed posts {len(errors)} -> {'OK' if ok else 'FAILED'}")
    if errors:
        print("  first error:", errors[0])


def coverage_table(n_sims: int, n_boot: int) -> None:
    from fairskin.reader_study import COVERAGE_SCENARIOS, coverage

    print(f"\ncoverage of the 95% crossed-bootstrap interval of pooled accuracy ({n_sims} simulated studies each, "
          f"{n_boot} replicates)")
    print(f"{'design':58s} {'truth':>6s} {'coverage':>9s} {'reject 50%':>11s} {'mean width':>11s}")
    for sc in COVERAGE_SCENARIOS:
        t0 = time.perf_counter()
        r = coverage(sc, n_sims=n_sims, n_boot=n_boot, seed=2024)
        name = f"{sc.name} ({sc.n_readers} x {sc.n_images})"
        print(f"{name:58s} {r['truth']:6.3f} {r['coverage']:9.3f} {r['rejection_rate_5pct']:11.3f} "
              f"{r['mean_width']:11.3f}   ({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 readers x 20 answers, 40 simulations")
    ap.add_argument("--skip", choices=["latency", "coverage"], action="append", default=[])
    ap.add_argument("--postgres-url", default=os.environ.get("FAIRSKIN_TEST_POSTGRES_URL", ""))
    ap.add_argument("--threads", type=int, default=16, help="server threads")
    ap.add_argument("--sims", type=int, default=500)
    args = ap.parse_args()
    readers, answers = (4, 20) if args.quick else (20, 100)
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if "latency" not in args.skip:
        from dataclasses import replace

        from fairskin.reader_study import StudyConfig, create_study

        with tempfile.TemporaryDirectory() as tmp:
            folder = make_folder(Path(tmp) / "images", per_cell=max(5, answers // 24 + 1))
            cfg = replace(StudyConfig(), n=answers, n_calibration=0, image_size=128)
            backends = [("SQLite", None)]
            if args.postgres_url:
                backends.append(("PostgreSQL", args.postgres_url))
            else:
                print("PostgreSQL: skipped (no --postgres-url and FAIRSKIN_TEST_POSTGRES_URL is unset; "
                      "eval \"$(bash .ci/start-postgres)\" starts one)")
            for label, url in backends:
                for pause in ((0.0, 0.0), (0.1, 0.3)):
                    study = Path(tmp) / f"study-{label}-{pause[1]}"
                    create_study(folder, out=study, config=cfg, progress=False)
                    db = url or f"sqlite:///{study / 'answers.sqlite'}"
                    if url:
                        _fresh_schema(url)
                    latency(label, db, study, readers=readers, answers=answers, threads=args.threads, pause=pause)
    if "coverage" not in args.skip:
        coverage_table(40 if args.quick else args.sims, 500 if args.quick else 1000)


def _fresh_schema(url: str) -> None:
    """Drop the reader-study tables of an earlier run from the benchmark database."""
    import sqlalchemy as sa

    from fairskin.reader_study._schema import metadata
    from fairskin.reader_study._store import normalise_url

    engine = sa.create_engine(normalise_url(url))
    with engine.begin() as conn:
        metadata.drop_all(conn)
    engine.dispose()


if __name__ == "__main__":
    main()
