"""The annotation pages through Flask's test client: the reader study's sign-in, CSRF and CSP
hold; labels are stored, checked, resumed and spread over annotators by ``--per-image``."""

from __future__ import annotations

import re

import pytest

from fairskin.reader_study import invite_readers

from ..reader_study.conftest import postgres_db  # noqa: F401 (the fixture: a fresh schema per test)


def _signed_in(app, invite):
    c = app.test_client()
    assert c.get(f"/r/{invite.token}").status_code == 303
    return c


def _form(client):
    r = client.get("/study", follow_redirects=False)
    if r.status_code == 303:
        return None
    html = r.get_data(as_text=True)
    return {k: re.search(rf'name="{k}" id="{k}" value="([^"]*)"', html).group(1) for k in ("csrf", "item", "nonce")}


def _label(client, tone=3, **extra):
    f = _form(client)
    if f is None:
        return None
    r = client.post("/answer", data={**f, "tone": str(tone), **extra})
    assert r.status_code == 303, r.get_data(as_text=True)
    return f["item"]


def test_labels_are_spread_over_annotators_and_resumed(make_annotation):
    from fairskin.annotate import create_annotate_app

    folder = make_annotation(n=8, per_image=2)
    inv = {i.name: i for i in invite_readers(folder, readers=3)}
    app = create_annotate_app(folder)
    a, b, c = (_signed_in(app, inv[f"reader-0{k}"]) for k in (1, 2, 3))
    first = [_label(a) for _ in range(3)]
    a2 = _signed_in(app, inv["reader-01"])  # a new browser with the same link resumes after the three
    assert _form(a2)["item"] not in first
    done = {"a": first + [x for x in iter(lambda: _label(a2), None)]}
    done["b"] = [x for x in iter(lambda: _label(b, tone=0), None)]  # "cannot tell" counts as a label given
    assert _form(c) is None and "still wait" not in c.get("/done").get_data(as_text=True)
    assert len(done["a"]) == 8 and len(done["b"]) == 8  # two annotators per image: the third has nothing left
    me = a.get("/me").get_data(as_text=True)
    assert me.count("<tr>") == 9 and "III" in me


def test_bad_posts_are_refused_with_reasons(make_annotation):
    from fairskin.annotate import create_annotate_app

    folder = make_annotation(n=4, per_image=0)
    inv = invite_readers(folder, readers=1)
    app = create_annotate_app(folder)
    anon = app.test_client()
    assert anon.get("/study").status_code == 401
    c = _signed_in(app, inv[0])
    f = _form(c)
    r = c.post("/answer", data={**f, "tone": "7"})
    assert r.status_code == 400 and "tone: expected 1-6" in r.get_data(as_text=True)
    r = c.post("/answer", data={**f, "item": "../../etc/passwd", "tone": "2"})
    assert r.status_code == 400 and "is not an image of this annotation" in r.get_data(as_text=True)
    r = c.post("/answer", data={**f, "csrf": "0" * 64, "tone": "2"})
    assert r.status_code == 403
    r = c.post("/answer", data={**f, "tone": "2"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert c.post("/answer", data={**f, "tone": "2"}).status_code == 303
    assert c.post("/answer", data={**f, "tone": "2"}).status_code == 303  # the same post again: recognised
    r = c.post("/answer", data={**f, "tone": "4", "nonce": "another-nonce"})
    assert r.status_code == 409  # the image was labelled already
    page = c.get("/study")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp
    html = page.get_data(as_text=True)
    assert html.count("<script nonce=") == 1 and " style=" not in html
    assert c.get("/admin").status_code == 403


@pytest.mark.parametrize("scale,keys", [("fitzpatrick", ["1", "6"]), ("monk", ["1", "0"])])
def test_the_page_shows_the_scale_reference(make_annotation, scale, keys):
    from fairskin.annotate import FITZPATRICK_DESCRIPTIONS, create_annotate_app
    from fairskin.skintone import MONK_SWATCHES

    folder = make_annotation(n=3, per_image=1, scale=scale, name=scale)
    inv = invite_readers(folder, readers=1)
    html = _signed_in(create_annotate_app(folder), inv[0]).get("/study").get_data(as_text=True)
    if scale == "monk":
        assert all(h in html for h in MONK_SWATCHES.hex) and 'id="tone-10"' in html
    else:
        assert all(d.replace("'", "&#39;") in html for d in FITZPATRICK_DESCRIPTIONS.values()) and 'id="tone-7"' not in html
    assert all(f"<kbd>{k}</kbd>" in html for k in keys)


def test_admin_sees_progress_and_exports_spreadsheet_safe_labels(make_annotation):
    from fairskin.annotate import create_annotate_app

    folder = make_annotation(n=3, per_image=1)
    inv = {i.role: i for i in invite_readers(folder, readers=1)}
    app = create_annotate_app(folder)
    _label(_signed_in(app, inv["reader"]), tone=5, comment="=HYPERLINK(1)")
    admin = _signed_in(app, inv["admin"])
    assert "1 of 3 image(s)" in admin.get("/admin").get_data(as_text=True)
    csv_text = admin.get("/admin/answers.csv").get_data(as_text=True)
    assert '"reader-01"' in csv_text and ",5," in csv_text and "'=HYPERLINK" in csv_text


def test_an_annotation_on_postgresql(make_annotation, postgres_db):
    """The same pages and analysis with the labels in PostgreSQL (``--db``); skipped without a server."""
    from fairskin.annotate import AnnotateAnalyzeConfig, analyze_annotation, create_annotate_app

    folder = make_annotation(n=4, per_image=0)
    inv = [i for i in invite_readers(folder, readers=2, db=postgres_db) if i.role == "reader"]
    app = create_annotate_app(folder, db=postgres_db)
    for k, invite in enumerate(inv):
        c = _signed_in(app, invite)
        assert [x for x in iter(lambda: _label(c, tone=2 + k), None)] and _form(c) is None
    app.extensions["fairskin_store"].dispose()
    assert not (folder / "answers.sqlite").exists()
    data = analyze_annotation(folder, db=postgres_db, config=AnnotateAnalyzeConfig(n_boot=100))
    assert data["n_labels"] == 8 and data["n_labelled"] == 4
