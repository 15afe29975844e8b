"""The served app over real HTTP (waitress): concurrent readers lose and duplicate nothing, and a
server killed mid-study (SIGKILL, no clean shutdown) restarts with every answer it acknowledged
and each reader resumes at their next image. Run on SQLite and, when available, PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")

from fairskin.reader_study import ServeConfig, invite_readers, start_server  # noqa: E402
from fairskin.reader_study._store import open_store  # noqa: E402


class Reader:
    """One simulated reader talking JSON to the server."""

    def __init__(self, base: str, token: str):
        self.base, self.s = base, requests.Session()
        r = self.s.get(f"{base}/r/{token}", allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text[:300]
        self.s.headers["Accept"] = "application/json"
        nxt = self.next()
        self.s.headers["X-CSRF-Token"] = nxt["csrf"]
        r = self.s.post(f"{base}/calibration", timeout=30, allow_redirects=False)
        assert r.status_code == 303, r.text[:300]

    def next(self) -> dict:
        return self.s.get(f"{self.base}/api/next", timeout=30).json()

    def answer(self, item: str, nonce: str | None = None) -> requests.Response:
        body = {"item": item, "origin": "synthetic", "realism": 3, "confidence": 4, "nonce": nonce or uuid.uuid4().hex}
        return self.s.post(f"{self.base}/answer", json=body, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(study: Path, db: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "fairskin", "reader-study", "serve", str(study), "--db", db,
                             "--port", str(port), "--threads", "8"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except requests.ConnectionError:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stdout.read()[-2000:]}")
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start within 60 s")


def test_concurrent_readers_lose_and_duplicate_nothing(study_factory, db_url):
    study = study_factory(n=16, calibration=2)
    invites = [i for i in invite_readers(study, readers=8, db=db_url) if i.role == "reader"]
    server = start_server(study, db=db_url, config=ServeConfig(port=0, threads=8))
    try:
        def run(token):
            rd = Reader(server.url, token)
            for _ in range(16):
                item = rd.next()["item"]
                r = rd.answer(item)
                assert r.status_code == 200 and r.json()["status"] == "stored", r.text
            assert rd.next()["done"]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(run, [i.token for i in invites]))
    finally:
        server.stop()
    store = open_store(study, db=db_url)
    df = store.answers_frame()
    store.dispose()
    assert len(df) == 8 * 16
    assert not df.duplicated(["reader", "item"]).any()
    assert (df.groupby("reader")["position"].apply(sorted).map(list) == [list(range(16))] * 8).all()


def test_killed_server_keeps_every_acknowledged_answer(study_factory, db_url):
    study = study_factory(n=24, calibration=2)
    invites = {i.name: i.token for i in invite_readers(study, readers=2, db=db_url)}
    port = _free_port()
    proc = _serve(study, db_url, port)
    base = f"http://127.0.0.1:{port}"
    acked: dict[str, list[str]] = {"reader-01": [], "reader-02": []}
    stop = threading.Event()
    try:
        readers = {n: Reader(base, invites[n]) for n in acked}

        def keep_answering(name):
            rd = readers[name]
            while not stop.is_set():
                try:
                    item = rd.next()["item"]
                    if item is None:
                        return
                    if rd.answer(item).status_code == 200:
                        acked[name].append(item)
                except (requests.RequestException, ValueError):
                    return  # the server is gone mid-request: that answer was never acknowledged

        threads = [threading.Thread(target=keep_answering, args=(n,)) for n in acked]
        for t in threads:
            t.start()
        while min(len(v) for v in acked.values()) < 5:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: what was committed must be there
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()

    proc = _serve(study, db_url, port)  # restart on the same database
    try:
        store = open_store(study, db=db_url)
        df = store.answers_frame()
        store.dispose()
        for name, items in acked.items():
            mine = df[df["reader"] == name].sort_values("position")
            # every acknowledged answer is there, in order; at most one more (committed, reply lost)
            assert list(mine["item"][:len(items)]) == items
            assert len(items) <= len(mine) <= len(items) + 1
            assert list(mine["position"]) == list(range(len(mine)))
            rd = Reader(base, invites[name])  # the reader comes back (new browser) and resumes
            nxt = rd.next()
            assert nxt["position"] == len(mine)
            assert rd.answer(nxt["item"]).json()["answered"] == len(mine) + 1
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
