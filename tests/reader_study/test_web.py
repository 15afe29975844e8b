"""The web app's security and input handling, through Flask's test client: every route crawled
with no token, a reader's and the admin's; the answer key never in a response; a reader sees only
their own answers; no path traversal; CSRF; escaping; clear messages for bad input."""

from __future__ import annotations

import re
import shutil
import uuid

import pandas as pd
import pytest

from fairskin.reader_study import create_app, invite_readers


@pytest.fixture
def site(study_factory):
    study = study_factory(n=8, calibration=2)
    invites = invite_readers(study, readers=2)
    key = pd.read_csv(study / "private" / "answer_key.csv", dtype={"id": str}, keep_default_na=False)
    app = create_app(study)
    tokens = {i.name: i.token for i in invites}
    return app, study, tokens, key


def _urls(app, key) -> list[tuple[str, str]]:
    """(method, url) of every route, with real ids, bad ids and traversal attempts filled in."""
    fill = {"image_id": list(key["id"][:2]) + ["../private/answer_key.csv", "..%2fprivate%2fanswer_key.csv",
                                                "0000000000000000", "%2e%2e%2fstudy.json"],
            "token": ["not-a-token", "../../private/invites.csv"]}
    out = []
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        args = list(rule.arguments)
        if not args:
            out += [(m, rule.rule) for m in methods]
            continue
        for v in fill[args[0]]:
            out += [(m, rule.rule.replace(f"<{args[0]}>", v)) for m in methods]
    extra = ["/private/answer_key.csv", "/images/../private/answer_key.csv", "/study.json", "/answers.sqlite",
             "/img/../private/answer_key.csv", "/static/reader.js"]
    return out + [("GET", u) for u in extra]


def _key_leaks(body: bytes, key: pd.DataFrame, study) -> list[str]:
    """What of the answer key a response body contains: the file, a source path, a stratum
    (type|diagnosis|origin). Item pages are checked to be identical for real and synthetic images
    in test_item_pages_differ_only_in_ids; the server runs without private/ in
    test_server_needs_nothing_private."""
    text = body.decode("utf-8", "replace")
    raw = (study / "private" / "answer_key.csv").read_text()
    leaks = ["key file"] if raw in text or "answer_key" in text else []
    study_rows = key[key["role"] == "study"]
    leaks += [f"source of {r.id}" for r in study_rows.itertuples() if r.source in text]
    leaks += [f"stratum of {r.id}" for r in study_rows.itertuples() if r.stratum in text]
    return leaks


@pytest.mark.parametrize("who", ["nobody", "reader", "admin"])
def test_crawl_every_route(site, client_for, who):
    app, study, tokens, key = site
    token = {"nobody": None, "reader": tokens["reader-01"], "admin": tokens["admin"]}[who]
    cl = client_for(app, token)
    public = {("GET", "/"), ("POST", "/login")}
    for method, url in _urls(app, key):
        r = cl.c.open(url, method=method)
        body = r.get_data()
        assert not _key_leaks(body, key, study), (who, method, url)
        if who == "nobody" and (method, url) not in public and not url.startswith("/r/"):
            assert r.status_code == 401, (method, url, r.status_code)
            assert b"Sign in first" in body
        if "answer_key" in url or "private" in url or url.endswith((".json", ".sqlite", ".js")):
            assert r.status_code in (401, 404), (who, url, r.status_code)
        if url.startswith("/img/") and r.status_code == 200:
            assert r.mimetype == "image/png" and url.split("/")[-1] in set(key["id"])
        assert "Content-Security-Policy" in r.headers and r.headers["X-Frame-Options"] == "DENY"


def test_server_needs_nothing_private(site, client_for):
    app, study, tokens, key = site
    shutil.rmtree(study / "private")  # the server never reads it: it runs the same without it
    app2 = create_app(study)
    cl = client_for(app2, tokens["reader-01"])
    assert cl.page("/calibration").status_code == 200
    assert cl.c.post("/calibration", data={"csrf": cl.csrf}).status_code == 303
    item = cl.current_item()
    assert cl.answer(item).status_code == 303


def test_item_pages_differ_only_in_ids(site, client_for):
    app, study, tokens, key = site
    cl = client_for(app, tokens["reader-01"])
    cl.page("/calibration")
    cl.c.post("/calibration", data={"csrf": cl.csrf})
    shapes = {}
    for _ in range(len(key[key["role"] == "study"])):
        html = cl.page("/study").get_data(as_text=True)
        item = re.search(r'name="item" value="([0-9a-f]{16})"', html).group(1)
        norm = re.sub(r"[0-9a-f]{16}", "ID", html)
        norm = re.sub(r'(nonce[=-]"?|name="nonce" value=")[A-Za-z0-9_-]+', r"\1N", norm)
        norm = re.sub(r"image \d+ of \d+|value=\"\d+\" max|Image \d+ of", "POS", norm)
        origin = key.set_index("id").loc[item, "origin"]
        shapes.setdefault(origin, set()).add(norm)
        assert cl.answer(item).status_code == 303
    assert len(shapes["real"]) == 1 and shapes["real"] == shapes["synthetic"]


def test_readers_see_only_their_own_answers(site, client_for, evil):
    app, study, tokens, key = site
    a, b = client_for(app, tokens["reader-01"]), client_for(app, tokens["reader-02"])
    for cl, note in ((a, "note of A " + evil), (b, "note of B")):
        cl.page("/calibration")
        cl.c.post("/calibration", data={"csrf": cl.csrf})
        assert cl.answer(cl.current_item(), comment=note).status_code == 303
    mine = a.page("/me").get_data(as_text=True)
    assert "note of A &lt;script&gt;alert(1)&lt;/script&gt;" in mine and "note of B" not in mine and evil not in mine
    assert "note of B" in b.page("/me").get_data(as_text=True)
    assert a.c.get("/admin").status_code == 403 and a.c.get("/admin/answers.csv").status_code == 403
    # A cannot answer B's image: the server takes only A's own next image
    b_item = b.current_item()
    if b_item != a.current_item():
        r = a.answer(b_item)
        assert r.status_code == 409 and b"this is not the image you are at" in r.get_data()
    admin = client_for(app, tokens["admin"])
    page = admin.page("/admin").get_data(as_text=True)
    assert "reader-01" in page and "reader-02" in page
    csv = admin.c.get("/admin/answers.csv").get_data(as_text=True)
    assert "note of A" in csv and "note of B" in csv and "origin" in csv
    assert not _key_leaks(csv.encode(), key, study)  # the export has the answers, not the truth


def test_csrf_and_origin(site, client_for):
    app, study, tokens, key = site
    a, b = client_for(app, tokens["reader-01"]), client_for(app, tokens["reader-02"])
    a.page("/calibration")
    b.page("/calibration")
    for bad in ("", "0" * 64, b.csrf):  # missing, forged, another reader's
        r = a.c.post("/calibration", data={"csrf": bad})
        assert r.status_code == 403 and b"Form expired or forged" in r.get_data()
    r = a.c.post("/calibration", data={"csrf": a.csrf}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and b"Cross-site request refused" in r.get_data()
    assert a.c.post("/calibration", data={"csrf": a.csrf}, headers={"Origin": "http://localhost"}).status_code == 303


def test_malformed_answers_get_clear_messages(site, client_for):
    app, study, tokens, key = site
    cl = client_for(app, tokens["reader-01"])
    cl.page("/calibration")
    cl.c.post("/calibration", data={"csrf": cl.csrf})
    item = cl.current_item()
    r = cl.answer(item, origin="maybe", realism="9", confidence="x", diagnosis="<b>eczema</b>", nonce="!",
                  client_ms="-5", comment="c" * 3000)
    assert r.status_code == 400
    msgs = re.findall(r"<li>(.*?)</li>", r.get_data(as_text=True))
    assert msgs == [
        "origin: expected one of real, synthetic, got &#39;maybe&#39;",
        "realism: expected 1-7, got 9",
        "confidence: expected a whole number 1-5, got &#39;x&#39;",
        "diagnosis: expected one of the study&#39;s diagnoses (melanocytic-nevi, melanoma) or empty for not sure, "
        "got &#39;&lt;b&gt;eczema&lt;/b&gt;&#39;",
        "comment: at most 2000 characters, got 3000",
        "nonce: expected 8-64 letters, digits, &#39;-&#39; or &#39;_&#39;, got &#39;!&#39;",
        "client_ms: expected 0-86400000, got -5"]
    r = cl.c.post("/answer", json={"item": "../../private", "origin": "real"}, headers={"X-CSRF-Token": cl.csrf})
    assert r.status_code == 400 and r.json["error"] == "Malformed answer"
    assert r.json["messages"][0] == "item: expected an image id of 16 hex digits, got '../../private'"
    assert cl.answer(item).status_code == 303  # nothing was stored by the bad posts: the image is still next


def test_unknown_token(site, client_for):
    app, *_ = site
    cl = client_for(app, None)
    r = cl.c.get("/r/not-a-token")
    assert r.status_code == 401 and b"Unknown invite token" in r.get_data()
    r = cl.c.post("/login", data={"token": "http://host/r/also-not"})
    assert r.status_code == 401
    assert cl.c.get("/study", headers={"Cookie": "fairskin_reader=forged"}).status_code == 401


def test_login_form_accepts_link_and_json_api(site, client_for):
    app, study, tokens, key = site
    cl = client_for(app, None)
    r = cl.c.post("/login", data={"token": f"http://127.0.0.1:8000/r/{tokens['reader-02']}"})
    assert r.status_code == 303 and r.headers["Location"] == "/study"
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
    nxt = cl.c.get("/api/next").json
    assert nxt["position"] == 0 and nxt["total"] == 8 and not nxt["done"]
    body = {"item": nxt["item"], "origin": "synthetic", "realism": 2, "confidence": 5, "nonce": uuid.uuid4().hex}
    r = cl.c.post("/answer", json=body, headers={"X-CSRF-Token": nxt["csrf"], "Accept": "application/json"})
    assert r.json == {"ok": True, "status": "stored", "answered": 1, "total": 8}
    r = cl.c.post("/answer", json=body, headers={"X-CSRF-Token": nxt["csrf"], "Accept": "application/json"})
    assert r.json["status"] == "repeated"
    assert cl.c.get("/api/next").json["position"] == 1


def test_whole_study_and_done(site, client_for):
    app, study, tokens, key = site
    cl = client_for(app, tokens["reader-01"])
    r = cl.page("/study")
    assert r.request.path == "/calibration"
    assert r.get_data(as_text=True).count('<figure class="cal">') == 2
    cl.c.post("/calibration", data={"csrf": cl.csrf})
    for k in range(8):
        html = cl.page("/study").get_data(as_text=True)
        assert f"image {k + 1} of 8" in html
        item = re.search(r'name="item" value="([0-9a-f]{16})"', html).group(1)
        assert cl.answer(item, origin="synthetic" if k % 2 else "real").status_code == 303
    r = cl.page("/study")
    assert r.request.path == "/done" and b"You have answered 8 of 8 images" in r.get_data()
