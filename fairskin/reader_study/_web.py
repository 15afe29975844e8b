"""The reader-study web application (Flask, served by waitress).

What the server can reach: ``study.json`` (questions, ids, calibration images with their answers)
and ``images/``; it never opens ``private/``. Every route but the sign-in page needs a token: the
reader's invite link (``/r/TOKEN``) or the sign-in form sets it as an HttpOnly cookie. A reader
reaches only their own next image, their own answers and the images; the admin token reaches
progress and the answer export. Posts carry a CSRF token (an HMAC of the reader's token hash under
a secret kept in the database) and a foreign Origin is refused. Pages carry a strict
Content-Security-Policy; their one script and style are inline with a per-response nonce, so no
other route is needed. Jinja2 escapes everything a reader or an admin typed.
"""

from __future__ import annotations

import csv
import functools
import hmac
import io
import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from flask import Flask, Response, g, jsonify, redirect, render_template, request

from fairskin.reader_study._config import IMAGES_DIR, ORIGINS, SERVED_MIME, SERVED_SUFFIX, ServeConfig, read_study_file
from fairskin.reader_study._store import ReaderRow, Store, open_store, reader_order
from fairskin.reader_study._validate import is_item_id, parse_answer

__all__ = ["create_app", "COOKIE"]

COOKIE = "fairskin_reader"
_PUBLIC = {"login_page", "login", "invite"}


def create_app(study: str | Path, *, db: str | None = None, config: ServeConfig = ServeConfig(),
               store: Store | None = None) -> Flask:
    """The Flask app of one study folder (``db``: SQLAlchemy URL; default SQLite in the folder):
    the guards every request passes, the sign-in routes, the reader's pages, the admin's pages."""
    study = Path(study)
    sf = read_study_file(study)
    store = store or open_store(study, db=db)
    images = study / IMAGES_DIR
    served = {i: images / f"{i}{SERVED_SUFFIX}" for i in [*sf.items, *(c["id"] for c in sf.calibration)]}
    missing = [i for i, p in served.items() if not p.is_file()]
    if missing:
        from fairskin.errors import InputError

        raise InputError(f"STUDY: {len(missing)} image(s) listed in study.json are missing from {images} "
                         f"(first: {missing[0]}{SERVED_SUFFIX}); recreate the study")
    app = Flask(__name__, template_folder="templates", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, TEMPLATES_AUTO_RELOAD=False)
    app.extensions["fairskin_store"] = store
    site = _Site(sf, store, config, served)
    _add_guards(app, site)
    _add_sign_in(app, site)
    _add_reader_pages(app, site)
    _add_admin_pages(app, site)
    return app


class _Site:
    """What every route of one study reads (the study file, the store, the settings, the served
    images) and the helpers they share: an error page or JSON error, the template values every
    page gets, signing a reader in, the role check, the reader's next image."""

    def __init__(self, sf, store: Store, config: ServeConfig, served: dict[str, Path]):
        self.sf, self.store, self.config, self.served = sf, store, config, served
        self.order_of = functools.lru_cache(maxsize=4096)(self._order_of)

    def _order_of(self, seed: int) -> tuple[str, ...]:
        return tuple(self.sf.items[i] for i in reader_order(len(self.sf.items), seed))

    @staticmethod
    def wants_json() -> bool:
        return request.is_json or request.accept_mimetypes.best == "application/json"

    def fail(self, status: int, title: str, messages: list[str] = (), link: tuple[str, str] | None = None):
        if self.wants_json():
            return jsonify({"ok": False, "error": title, "messages": list(messages)}), status
        return render_template("error.html", status=status, heading=title, messages=list(messages), link=link,
                               **self.common()), status

    def common(self) -> dict:
        return {"nonce": g.nonce, "reader": g.get("reader"), "title": self.sf.title,
                "csrf": self.store.csrf_token(g.reader) if g.get("reader") else ""}

    def signed_in(self, reader: ReaderRow, token: str):
        resp = redirect("/admin" if reader.role == "admin" else "/study", code=303)
        resp.set_cookie(COOKIE, token, max_age=self.config.cookie_days * 86400, httponly=True, samesite="Lax",
                        secure=self.config.secure_cookie, path="/")
        return resp

    def role(self, *allowed: str):
        def deco(fn):
            @functools.wraps(fn)
            def wrapper(*a, **kw):
                if g.reader.role not in allowed:
                    return self.fail(403, "Not for this token", [f"this page is for the {' or '.join(allowed)} token"])
                return fn(*a, **kw)
            return wrapper
        return deco

    def next_state(self, reader: ReaderRow) -> tuple[int, str | None]:
        order = self.order_of(reader.order_seed)
        n = self.store.n_answered(reader.id)
        return n, (order[n] if n < len(order) else None)


def _add_guards(app: Flask, site: _Site) -> None:
    """Every request: its token and nonce, the Origin check, sign-in and CSRF; every response: the
    security headers; the error pages."""
    fail, store = site.fail, site.store

    @app.before_request
    def _guard():
        g.nonce = secrets.token_urlsafe(16)
        g.reader = None
        token = request.cookies.get(COOKIE, "")
        if token:
            g.reader = store.reader_by_token(token)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.host:
                return fail(403, "Cross-site request refused", [f"Origin {origin!r} is not this site"])
        if request.endpoint in _PUBLIC:
            return None
        if g.reader is None:
            return fail(401, "Sign in first", ["open your personal invite link, or paste its token on the sign-in page"],
                        link=("/", "sign in"))
        if request.method == "POST":
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf", "")
            if not hmac.compare_digest(str(sent), store.csrf_token(g.reader)):
                return fail(403, "Form expired or forged", ["the form's CSRF token does not match; reload the page "
                                                            "and answer again"], link=("/study", "reload"))
        return None

    @app.after_request
    def _headers(resp: Response):
        n = g.get("nonce", "")
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src 'self' data:; style-src 'nonce-{n}'; script-src 'nonce-{n}'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        if resp.mimetype != SERVED_MIME:
            resp.headers["Cache-Control"] = "no-store"
        return resp

    for code, heading, text in ((404, "Not found", "there is no such page"),
                                (405, "Method not allowed", "this method is not allowed here"),
                                (413, "Too large", "the form is larger than any answer can be")):
        app.register_error_handler(code, functools.partial(lambda h, t, _e: fail(_e.code, h, [t]), heading, text))


def _add_sign_in(app: Flask, site: _Site) -> None:
    """The sign-in page, the form, the invite link and signing out."""
    fail, common, store = site.fail, site.common, site.store

    @app.get("/")
    def login_page():
        if g.reader is not None:
            return redirect("/admin" if g.reader.role == "admin" else "/study", code=303)
        return render_template("login.html", **common())

    def enter(token: str):
        reader = store.reader_by_token(token)
        if reader is None:
            return fail(401, "Unknown invite token", ["this token is not one of this study's invites; check the link"],
                        link=("/", "sign in"))
        return site.signed_in(reader, token)

    @app.post("/login")
    def login():
        token = (request.form.get("token") or "").strip()
        return enter(token.rsplit("/r/", 1)[-1])  # a pasted whole link works too

    @app.get("/r/<token>")
    def invite(token: str):
        return enter(token)

    @app.post("/logout")
    def logout():
        resp = redirect("/", code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp


def _add_reader_pages(app: Flask, site: _Site) -> None:
    """The reader's next image (page and JSON), calibration, answering, done, their own answers, the images."""
    fail, common, role, store, sf, config = site.fail, site.common, site.role, site.store, site.sf, site.config
    next_state, order_of, served, wants_json = site.next_state, site.order_of, site.served, site.wants_json

    @app.get("/study")
    @role("reader")
    def study_page():
        if sf.calibration and not g.reader.calibrated:
            return redirect("/calibration", code=303)
        n, item = next_state(g.reader)
        if item is None:
            return redirect("/done", code=303)
        store.mark_shown(g.reader.id, item)
        return render_template("item.html", item=item, position=n, total=len(sf.items), q=sf.questions,
                               origins=ORIGINS, fresh_nonce=secrets.token_urlsafe(12), **common())

    @app.get("/api/next")
    @role("reader")
    def api_next():
        n, item = next_state(g.reader)
        if item is not None:
            store.mark_shown(g.reader.id, item)
        return jsonify({"ok": True, "item": item, "position": n, "total": len(sf.items), "done": item is None,
                        "csrf": store.csrf_token(g.reader)})

    @app.get("/calibration")
    @role("reader")
    def calibration_page():
        return render_template("calibration.html", images=sf.calibration, **common())

    @app.post("/calibration")
    @role("reader")
    def calibration_done():
        store.set_calibrated(g.reader)
        return redirect("/study", code=303)

    @app.post("/answer")
    @role("reader")
    def answer():
        if request.is_json:
            form, problem = json_body(request.get_data(cache=True))
            if problem:
                return fail(400, "Malformed answer", [problem])
        else:
            form = request.form
        if not isinstance(form, dict) and not hasattr(form, "get"):
            return fail(400, "Malformed answer", ["expected a form or a JSON object"])
        item, values, errors = parse_answer(form, sf.questions, max_comment=config.max_comment)
        if errors:
            return fail(400, "Malformed answer", errors, link=("/study", "back to the image"))
        outcome = store.record_answer(g.reader, order=list(order_of(g.reader.order_seed)), item=item, values=values,
                                      time_limit_s=sf.questions.time_limit_s)
        if outcome.status == "conflict":
            return fail(409, "Answer not saved", [outcome.message], link=("/study", "continue where you are"))
        if wants_json():
            return jsonify({"ok": True, "status": outcome.status, "answered": outcome.position,
                            "total": len(sf.items)})
        return redirect("/study", code=303)

    @app.get("/done")
    @role("reader")
    def done():
        n, _ = next_state(g.reader)
        return render_template("done.html", answered=n, total=len(sf.items), **common())

    @app.get("/me")
    @role("reader")
    def my_answers():
        rows = store.answers_frame(g.reader.id).to_dict("records")
        return render_template("me.html", rows=rows, total=len(sf.items), **common())

    @app.get("/img/<image_id>")
    @role("reader", "admin")
    def image(image_id: str):
        if not is_item_id(image_id) or image_id not in served:
            return fail(404, "Not found", ["no such image"])
        return Response(served[image_id].read_bytes(), mimetype=SERVED_MIME,
                        headers={"Cache-Control": "private, max-age=86400"})


def _add_admin_pages(app: Flask, site: _Site) -> None:
    """The admin's progress page and the answer export."""
    role, store, sf, common = site.role, site.store, site.sf, site.common

    @app.get("/admin")
    @role("admin")
    def admin():
        rows = store.readers_frame().to_dict("records")
        ans = store.answers_frame()
        med = ans.groupby("reader_id")["server_ms"].median().to_dict() if len(ans) else {}
        for r in rows:
            r["median_s"] = med.get(r["id"], None)
            r["median_s"] = None if r["median_s"] is None else r["median_s"] / 1000
        return render_template("admin.html", rows=rows, total=len(sf.items), n_answers=len(ans), **common())

    @app.get("/admin/answers.csv")
    @role("admin")
    def export():
        df = store.answers_frame().drop(columns=["reader_id", "nonce"])
        for col in df.columns:  # every text cell (reader names too), not only the comments
            if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
                df[col] = df[col].map(_no_formula)
        buf = io.StringIO()
        df.to_csv(buf, index=False, quoting=csv.QUOTE_NONNUMERIC)
        return Response(buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=answers.csv"})


def _no_formula(text):
    """Spreadsheet-safe text: a leading =, +, - or @ would run as a formula when the export is opened."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


#: the deepest JSON an answer may be: an answer is one flat object
MAX_JSON_DEPTH = 4


def json_body(raw: bytes) -> tuple[object, str]:
    """(the JSON object of a request body, "") or (None, what is wrong). Nesting is counted before
    parsing, so a body nested thousands deep is a 400, not a RecursionError (HTTP 500)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return None, f"the JSON body is nested more than {MAX_JSON_DEPTH} deep; an answer is one flat object"
        elif ch in (0x5D, 0x7D):
            depth -= 1
    try:
        return json.loads(raw.decode("utf-8")), ""
    except (UnicodeDecodeError, ValueError):
        return None, "the body is not valid UTF-8 JSON; expected a JSON object"
