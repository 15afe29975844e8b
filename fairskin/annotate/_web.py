"""The annotation pages: the reader study's web app with the answering pages swapped.

``reader_study.create_app`` brings everything that must not differ between the two apps: the
invite tokens (SHA-256 in the database), the sign-in cookie, CSRF tokens and the Origin check on
every post, the Content-Security-Policy with per-response nonces, the image route (16-hex-digit
ids of the folder only), the error pages and the store (SQLite with WAL and full sync, or
PostgreSQL; an answer is committed before the reply, a retried post is recognised by its nonce).
This module replaces the views of the reader's own pages (``/study``, ``/answer``, ``/api/next``,
``/done``, ``/me``) and the admin's (``/admin``, ``/admin/answers.csv``) with the annotation's.

Labels are stored in the reader study's answer table: ``realism`` holds the type answered
(0 = "cannot tell"), ``origin`` the scale's name; ``confidence`` and ``diagnosis`` are unused.
Each annotator's next image is the first one in their own seeded order that they have not
labelled and that has fewer than ``per_image`` labels (all images when ``per_image`` is 0), so
closing the browser and coming back resumes where they were; two annotators answering the last
free slot of one image at once may give it one label more than asked.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import secrets
import threading
from pathlib import Path

from flask import Response, g, jsonify, redirect, render_template, request
from jinja2 import ChoiceLoader, FileSystemLoader

from fairskin.annotate._config import read_annotation_file, swatches
from fairskin.outputs import csv_safe
from fairskin.reader_study import (RunningServer, ServeConfig, create_app, is_item_id, open_store, read_study_file,
                                   reader_order)

__all__ = ["create_annotate_app", "serve_annotation", "start_annotation_server", "CANNOT_TELL"]

#: the answer "cannot tell" (too dark, no skin visible, ...): stored, left out of the consensus
CANNOT_TELL = 0
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MAX_CLIENT_MS = 24 * 3600 * 1000


def _key_of(tone: int) -> str:
    return "0" if tone == 10 else str(tone)


def create_annotate_app(folder: str | Path, *, db: str | None = None, config: ServeConfig = ServeConfig(), store=None):
    """The Flask app of one annotation folder (``db``: SQLAlchemy URL; default SQLite in the folder):
    the reader study's app with the reader's and the admin's views replaced by :class:`_Annotation`'s."""
    folder = Path(folder)
    af, sf = read_annotation_file(folder), read_study_file(folder)
    store = store or open_store(folder, db=db)
    app = create_app(folder, db=db, config=config, store=store)
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(Path(__file__).parent / "templates")), app.jinja_loader])
    ann = _Annotation(af, sf, store, config)
    views = {"study_page": (ann.study_page, "reader"), "api_next": (ann.api_next, "reader"),
             "answer": (ann.answer, "reader"), "done": (ann.done_page, "reader"), "my_answers": (ann.my_labels, "reader"),
             "admin": (ann.admin, "admin"), "export": (ann.export, "admin")}
    for endpoint, (fn, role) in views.items():
        if endpoint not in app.view_functions:
            raise RuntimeError(f"the reader study's app has no view {endpoint!r} to replace")
        app.view_functions[endpoint] = ann.only(role)(fn)
    app.extensions["fairskin_annotation"] = af
    return app


class _Annotation:
    """The annotation's views of one folder and what they share: the page and error helpers, the
    role check, each annotator's next image, the answer's parsing."""

    def __init__(self, af, sf, store, config: ServeConfig):
        self.af, self.sf, self.store, self.config = af, sf, store, config
        self.scale = af.tone_scale
        self.tiles = [{**s, "key": _key_of(s["tone"])} for s in swatches(af.scale)]
        self.items = set(sf.items)

    def page(self, template: str, code: int = 200, **kw):
        ctx = {"nonce": g.nonce, "reader": g.reader, "title": self.sf.title,
               "csrf": self.store.csrf_token(g.reader) if g.get("reader") else ""}
        return render_template(template, **ctx, **kw), code

    def fail(self, status: int, heading: str, messages: list[str], link=("/study", "back to the image")):
        if request.is_json or request.accept_mimetypes.best == "application/json":
            return jsonify({"ok": False, "error": heading, "messages": messages}), status
        return self.page("error.html", status, status=status, heading=heading, messages=messages, link=link)

    def only(self, role: str):
        def deco(fn):
            @functools.wraps(fn)
            def wrapper(*a, **kw):
                if g.reader.role != role:
                    return self.fail(403, "Not for this token", [f"this page is for the {role} token"], link=None)
                return fn(*a, **kw)
            return wrapper
        return deco

    def state(self, reader) -> tuple[list[str], str | None, int]:
        """(items this annotator labelled, in order; their next item; items still needing labels)."""
        done = list(self.store.answers_frame(reader.id)["item"])
        seen = set(done)
        counts = self.store.answers_frame()["item"].value_counts().to_dict() if self.af.per_image else {}
        open_ = [i for i in self.sf.items if not self.af.per_image or counts.get(i, 0) < self.af.per_image]
        free = set(open_) - seen
        order = self.sf.items
        nxt = next((order[k] for k in reader_order(len(order), reader.order_seed) if order[k] in free), None)
        return done, nxt, len(open_)

    def study_page(self):
        done, item, remaining = self.state(g.reader)
        if item is None:
            return redirect("/done", code=303)
        self.store.mark_shown(g.reader.id, item)
        return self.page("annotate_item.html", item=item, position=len(done), remaining=remaining, tiles=self.tiles,
                         scale=self.scale, masked=self.af.masked, fresh_nonce=secrets.token_urlsafe(12),
                         cannot_tell=CANNOT_TELL)

    def api_next(self):
        done, item, remaining = self.state(g.reader)
        if item is not None:
            self.store.mark_shown(g.reader.id, item)
        return jsonify({"ok": True, "item": item, "position": len(done), "remaining": remaining, "done": item is None,
                        "csrf": self.store.csrf_token(g.reader), "scale": self.af.scale,
                        "tones": list(self.scale.tones)})

    def parse(self, form) -> tuple[str, dict, list[str]]:
        errors = []
        item = str(form.get("item", ""))
        if not is_item_id(item) or item not in self.items:
            errors.append(f"item: {item[:40]!r} is not an image of this annotation")
        raw = str(form.get("tone", "")).strip()
        tone = int(raw) if raw.isdigit() else None
        if tone is None or (tone != CANNOT_TELL and tone not in self.scale.tones):
            tones = self.scale.tones
            errors.append(f"tone: expected {tones[0]}-{tones[-1]} or {CANNOT_TELL} (cannot tell), got {raw[:20]!r}")
        nonce = str(form.get("nonce", ""))
        if not _NONCE.fullmatch(nonce):
            errors.append("nonce: expected 8-64 letters, digits, '-' or '_' (reload the page)")
        cms = str(form.get("client_ms", "") or "").strip()
        client_ms = int(cms) if cms.isdigit() and int(cms) <= _MAX_CLIENT_MS else None
        comment = str(form.get("comment", "") or "").strip()
        if len(comment) > self.config.max_comment:
            errors.append(f"comment: {len(comment)} characters, at most {self.config.max_comment}")
        return item, {"origin": self.af.scale[:16], "realism": tone, "confidence": 0, "diagnosis": None,
                      "comment": comment or None, "nonce": nonce, "client_ms": client_ms}, errors

    def answer(self):
        form = request.get_json(silent=True) if request.is_json else request.form
        if not hasattr(form, "get"):
            return self.fail(400, "Malformed answer", ["expected a form or a JSON object"])
        item, values, errors = self.parse(form)
        if errors:
            return self.fail(400, "Malformed answer", errors)
        done, _, _ = self.state(g.reader)
        outcome = self.store.record_answer(g.reader, order=done + [item], item=item, values=values)
        if outcome.status == "conflict":
            return self.fail(409, "Answer not saved", [outcome.message], link=("/study", "continue where you are"))
        if request.is_json or request.accept_mimetypes.best == "application/json":
            return jsonify({"ok": True, "status": outcome.status, "answered": outcome.position})
        return redirect("/study", code=303)

    def done_page(self):
        done, _, remaining = self.state(g.reader)
        return self.page("annotate_done.html", answered=len(done), remaining=remaining)

    def my_labels(self):
        rows = self.store.answers_frame(g.reader.id).to_dict("records")
        for r in rows:
            r["tone_label"] = "cannot tell" if r["realism"] == CANNOT_TELL else self.scale.label(int(r["realism"]))
        return self.page("annotate_me.html", rows=rows)

    def admin(self):
        ans = self.store.answers_frame()
        per = ans.groupby("reader").size().to_dict() if len(ans) else {}
        readers = [r for r in self.store.readers_frame().to_dict("records") if r["role"] == "reader"]
        counts = ans["item"].value_counts() if len(ans) else None
        covered = 0 if counts is None else int((counts >= max(self.af.per_image, 1)).sum())
        return self.page("annotate_admin.html", readers=[(r["name"], per.get(r["name"], 0)) for r in readers],
                         n_items=len(self.sf.items), covered=covered, per_image=self.af.per_image, n_answers=len(ans))

    def export(self):
        ans = self.store.answers_frame()
        out = ans[["reader", "item", "position", "answered_at", "server_ms", "client_ms", "comment"]].copy()
        out.insert(2, "tone", [CANNOT_TELL if v == CANNOT_TELL else int(v) for v in ans["realism"]])
        out.insert(3, "scale", self.af.scale)
        out["comment"] = out["comment"].map(csv_safe)
        buf = io.StringIO()
        out.to_csv(buf, index=False, quoting=csv.QUOTE_NONNUMERIC)
        return Response(buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=labels_raw.csv"})


def start_annotation_server(folder: str | Path, *, db: str | None = None,
                            config: ServeConfig = ServeConfig(port=0)) -> RunningServer:
    """Serve under waitress in a background thread; ``config.port=0`` picks a free port."""
    from waitress import create_server

    server = create_server(create_annotate_app(folder, db=db, config=config), host=config.host, port=config.port,
                           threads=config.threads, ident="fairskin", clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, name="fairskin-annotate", daemon=True)
    thread.start()
    return RunningServer(url=f"http://{config.host}:{server.effective_port}", server=server, thread=thread)


def serve_annotation(folder: str | Path, *, db: str | None = None, config: ServeConfig = ServeConfig(),
                     announce=print) -> None:
    """Serve until interrupted (Ctrl+C), then close the server and the database connections."""
    running = start_annotation_server(folder, db=db, config=config)
    announce(f"annotation {Path(folder)} at {running.url}/; Ctrl+C stops")
    try:
        while running.thread.is_alive():
            running.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    running.stop()
    running.server.application.extensions["fairskin_store"].dispose()
