"""Issue 28 rows 7 and 8: the reader-study server bounds body size and nesting, creates its
database 0600 and neutralises every cell of the answers export."""

from __future__ import annotations

import csv
import io
import os
import stat
import uuid

import pytest

from fairskin.reader_study import create_app, invite_readers


@pytest.fixture
def signed_in(study_factory, client_for):
    study = study_factory(n=6, calibration=2)
    invites = invite_readers(study, readers=0, names=["=HYPERLINK(\"http://evil\",\"x\")", "+cmd", "plain"])
    app = create_app(study)
    tokens = {i.name: i.token for i in invites}
    return app, study, tokens


def _start(app, token, client_for):
    cl = client_for(app, token)
    cl.page("/calibration")
    cl.c.post("/calibration", data={"csrf": cl.csrf})
    return cl, cl.current_item()


def test_a_deeply_nested_json_body_is_a_clear_400_not_a_500(signed_in, client_for):
    app, study, tokens = signed_in
    cl, item = _start(app, tokens["plain"], client_for)
    body = b"[" * 20_000 + b"]" * 20_000  # 40 KB: under the size bound, far over the nesting one
    r = cl.c.post("/answer", data=body, content_type="application/json", headers={"X-CSRF-Token": cl.csrf})
    assert r.status_code == 400, r.data[:200]
    assert "nested more than" in r.json["messages"][0]
    r = cl.c.post("/answer", data=b'{"item": "' + b"a" * 100_000 + b'"}', content_type="application/json",
                  headers={"X-CSRF-Token": cl.csrf})
    assert r.status_code == 413
    r = cl.c.post("/answer", json={"csrf": cl.csrf, "item": item, "nonce": uuid.uuid4().hex, "origin": "real",
                                   "realism": "4", "confidence": "3", "diagnosis": "", "comment": "",
                                   "client_ms": "1500"}, headers={"X-CSRF-Token": cl.csrf})
    assert r.status_code == 200 and r.json["ok"]  # a flat answer still works


def test_the_database_is_created_readable_by_its_owner_only(signed_in):
    app, study, tokens = signed_in
    dbs = [p for p in study.rglob("*.sqlite*")]
    assert dbs, "the study's SQLite database was not found"
    for p in dbs:
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, f"{p} is {oct(stat.S_IMODE(os.stat(p).st_mode))}"


def test_every_cell_of_the_answers_export_is_spreadsheet_safe(signed_in, client_for):
    app, study, tokens = signed_in
    for name in ("=HYPERLINK(\"http://evil\",\"x\")", "+cmd"):
        cl, item = _start(app, tokens[name], client_for)
        assert cl.answer(item).status_code == 303
    admin = client_for(app, tokens["admin"])
    text = admin.c.get("/admin/answers.csv").get_data(as_text=True)
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells and "'+cmd" in cells
    assert not any(c[:1] in ("=", "+", "-", "@") for c in cells)
