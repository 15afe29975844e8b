"""Where answers live: SQLite in the study folder by default (WAL, full sync), or PostgreSQL.

Every write is one transaction that is committed before the server answers, so an answer the
reader saw accepted survives a killed server. An answer is accepted only for the reader's next
image in their own order (``position`` = answers so far); two requests racing for the same slot
are told apart by the unique constraints, and a retried request (same nonce) is recognised and
not stored twice.

Tokens are stored as SHA-256 hashes only; the tokens themselves are shown once, by ``invite``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from fairskin.errors import InputError, MissingDependencyError
from fairskin.reader_study._config import default_db_url
from fairskin.reader_study._schema import answers, migrate, readers, settings, utcnow, views
from fairskin.settings import stream_seed

__all__ = ["Store", "ReaderRow", "AnswerOutcome", "open_store", "hash_token", "reader_order", "normalise_url",
           "display_url"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def reader_order(n_items: int, seed: int) -> np.ndarray:
    """The reader's own order of the study's items: a permutation seeded by their ``order_seed``."""
    return np.random.default_rng(int(seed)).permutation(n_items)


def normalise_url(url: str) -> sa.engine.URL:
    """``postgresql://`` and ``postgres://`` go through psycopg 3; SQLite URLs stay as they are."""
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InputError(f"db: {url!r} is not a database URL; expected sqlite:///PATH or "
                         f"postgresql://USER@HOST/DB") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if not (u.drivername.startswith("sqlite") or u.drivername.startswith("postgresql")):
        raise InputError(f"db: unsupported database {u.drivername!r}; expected sqlite:///PATH or postgresql://...")
    return u


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return normalise_url(url).render_as_string(hide_password=True)


_SYNC = {"FULL": "PRAGMA synchronous=FULL", "NORMAL": "PRAGMA synchronous=NORMAL"}


def _sqlite_engine(u: sa.engine.URL, synchronous: str = "FULL") -> sa.engine.Engine:
    engine = sa.create_engine(u, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=20,
                              max_overflow=10, pool_timeout=60)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # SQLAlchemy's documented recipe: we emit BEGIN ourselves
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("PRAGMA journal_mode=WAL", _SYNC[synchronous], "PRAGMA foreign_keys=ON",
                       "PRAGMA busy_timeout=30000"):
            cur.execute(pragma)
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # writers take the lock up front: no deadlock on a read -> write upgrade
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("fs_write") else "BEGIN")

    return engine


@dataclass(frozen=True)
class ReaderRow:
    id: int
    name: str
    role: str
    order_seed: int
    calibrated: bool
    token_sha256: str


@dataclass(frozen=True)
class AnswerOutcome:
    status: str  # stored | repeated (same nonce, already stored) | conflict
    position: int  # answers the reader has now
    message: str = ""


class Store:
    """The answer database of one study.

    With SQLite the server process is the only writer, so writes queue on a lock here instead of
    polling SQLite's busy handler (whose sleeps made the slowest answers wait hundreds of ms), and
    the first-view times go through a second connection pool with ``synchronous=NORMAL``: they
    reach the disk with the next answer's commit (an answer's fsync covers the whole log) and
    survive a killed process either way, so only answers pay for an fsync of their own.
    """

    def __init__(self, engine: sa.engine.Engine, url: str, *, light_engine: sa.engine.Engine | None = None):
        self.engine = engine
        self.url = url
        self._light = light_engine or engine
        sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock() if sqlite else contextlib.nullcontext()
        if sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        self._insert = insert
        self._readers: dict[str, ReaderRow] = {}  # token hash -> reader (readers are never deleted)
        self._shown: set[tuple[int, str]] = set()

    # -- transactions
    @contextlib.contextmanager
    def _write(self, *, light: bool = False):
        engine = self._light if light else self.engine
        with self._lock, engine.connect().execution_options(fs_write=True) as conn, conn.begin():
            yield conn

    def _read(self):
        return self.engine.connect()

    # -- readers
    def add_readers(self, names: list[str], *, role: str, study_seed: int) -> list[tuple[str, str]]:
        """Create readers (or admins); returns (name, token) pairs. Names must be new."""
        out = []
        with self._write() as conn:
            taken = set(conn.scalars(sa.select(readers.c.name)))
            n_before = conn.scalar(sa.select(sa.func.count()).select_from(readers)) or 0
            clash = sorted(set(names) & taken)
            if clash:
                raise InputError(f"names: reader name(s) {clash} already exist; choose new names")
            for k, name in enumerate(names):
                token = secrets.token_urlsafe(24)
                seed = stream_seed(int(study_seed), n_before + k)
                conn.execute(sa.insert(readers).values(name=name, role=role, token_sha256=hash_token(token),
                                                       order_seed=seed, created_at=utcnow()))
                out.append((name, token))
        return out

    def reader_names(self) -> list[str]:
        with self._read() as conn:
            return list(conn.scalars(sa.select(readers.c.name).order_by(readers.c.id)))

    def reader_by_token(self, token: str) -> ReaderRow | None:
        if not token or len(token) > 200:
            return None
        h = hash_token(token)
        if h in self._readers:
            return self._readers[h]
        with self._read() as conn:
            r = conn.execute(sa.select(readers).where(readers.c.token_sha256 == h)).first()
        if r is None:
            return None
        row = ReaderRow(id=r.id, name=r.name, role=r.role, order_seed=int(r.order_seed),
                        calibrated=r.calibrated_at is not None, token_sha256=r.token_sha256)
        self._readers[h] = row
        return row

    def set_calibrated(self, reader: ReaderRow) -> None:
        with self._write() as conn:
            conn.execute(sa.update(readers).where(readers.c.id == reader.id, readers.c.calibrated_at.is_(None))
                         .values(calibrated_at=utcnow()))
        self._readers[reader.token_sha256] = replace(reader, calibrated=True)

    def csrf_token(self, reader: ReaderRow) -> str:
        return hmac.new(self._secret(), f"csrf|{reader.token_sha256}".encode(), hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        if not hasattr(self, "_secret_cache"):
            with self._read() as conn:
                self._secret_cache = conn.scalar(sa.select(settings.c.value).where(settings.c.key == "csrf_secret")).encode()
        return self._secret_cache

    # -- answers
    def n_answered(self, reader_id: int) -> int:
        with self._read() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(answers)
                                   .where(answers.c.reader_id == reader_id)) or 0)

    def mark_shown(self, reader_id: int, item: str) -> None:
        """Remember when the reader first saw ``item`` (a reload keeps the first time)."""
        if (reader_id, item) in self._shown:
            return
        with self._write(light=True) as conn:
            conn.execute(self._insert(views).values(reader_id=reader_id, item=item, shown_at=utcnow())
                         .on_conflict_do_nothing())
        self._shown.add((reader_id, item))

    def record_answer(self, reader: ReaderRow, *, order: list[str], item: str, values: dict,
                      time_limit_s: float = 0.0) -> AnswerOutcome:
        """Store one answer for the reader's next image, committed before this returns."""
        try:
            return self._record(reader, order=order, item=item, values=values, time_limit_s=time_limit_s)
        except IntegrityError:  # a concurrent request of the same reader took the slot first
            n = self.n_answered(reader.id)
            return AnswerOutcome("conflict", n, "this image was answered from another window; reload to continue")

    def _record(self, reader, *, order, item, values, time_limit_s) -> AnswerOutcome:
        with self._write() as conn:
            n = int(conn.scalar(sa.select(sa.func.count()).select_from(answers)
                                .where(answers.c.reader_id == reader.id)) or 0)
            again = conn.scalar(sa.select(answers.c.item).where(answers.c.reader_id == reader.id,
                                                                answers.c.nonce == values["nonce"]))
            if again is not None and again == item:
                return AnswerOutcome("repeated", n)
            if n >= len(order):
                return AnswerOutcome("conflict", n, "all images are answered already")
            if order[n] != item:
                return AnswerOutcome("conflict", n, "this is not the image you are at (it was answered already or "
                                                    "is still to come); reload to continue")
            now = utcnow()
            shown = conn.scalar(sa.select(views.c.shown_at).where(views.c.reader_id == reader.id,
                                                                   views.c.item == item)) or now
            ms = max(0, int((now - shown).total_seconds() * 1000))
            over = bool(time_limit_s) and ms > (time_limit_s + 2.0) * 1000  # 2 s grace for the network
            conn.execute(sa.insert(answers).values(reader_id=reader.id, item=item, position=n, shown_at=shown,
                                                   answered_at=now, server_ms=ms, over_time=over, **values))
        return AnswerOutcome("stored", n + 1)

    def answers_frame(self, reader_id: int | None = None) -> pd.DataFrame:
        """Answers (all, or one reader's) with the reader's name, ordered by reader and position."""
        q = (sa.select(readers.c.name.label("reader"), answers)
             .join(readers, readers.c.id == answers.c.reader_id)
             .order_by(answers.c.reader_id, answers.c.position))
        if reader_id is not None:
            q = q.where(answers.c.reader_id == reader_id)
        with self._read() as conn:
            rows = conn.execute(q).mappings().all()
        cols = ["reader", "reader_id", "item", "position", "origin", "realism", "confidence", "diagnosis", "comment",
                "nonce", "shown_at", "answered_at", "server_ms", "client_ms", "over_time"]
        return pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)

    def readers_frame(self) -> pd.DataFrame:
        n = (sa.select(answers.c.reader_id, sa.func.count().label("answered"),
                       sa.func.max(answers.c.answered_at).label("last_answer"))
             .group_by(answers.c.reader_id).subquery())
        q = (sa.select(readers.c.id, readers.c.name, readers.c.role, readers.c.calibrated_at, readers.c.created_at,
                       sa.func.coalesce(n.c.answered, 0).label("answered"), n.c.last_answer)
             .outerjoin(n, n.c.reader_id == readers.c.id).order_by(readers.c.id))
        with self._read() as conn:
            return pd.DataFrame(conn.execute(q).mappings().all(),
                                columns=["id", "name", "role", "calibrated_at", "created_at", "answered", "last_answer"])

    def dispose(self) -> None:
        self.engine.dispose()
        self._light.dispose()


def _private_file(path: Path) -> None:
    """The SQLite file readable and writable by its owner only (0600): it holds every answer and
    the CSRF secret. Created so before SQLite opens it (SQLite gives its -wal and -shm files the
    same mode); an existing one of this user's that others can read is made private."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = p.stat()
        except FileNotFoundError:
            if p != path:
                continue
            if not path.parent.is_dir():
                return  # SQLite reports the missing folder
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
            continue
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(p, 0o600)


def open_store(study: str | Path | None = None, *, db: str | None = None, create: bool = True,
               invite: str = "fairskin reader-study invite STUDY --readers N") -> Store:
    """Connect to ``db`` (default: SQLite in the study folder) and bring its schema up to date.
    ``invite``: the command that creates the database, named when ``create`` is False and it is
    missing (an annotation shares this store and is invited by its own command)."""
    url = db or (default_db_url(study) if study is not None else None)
    if url is None:
        raise InputError("db: no database given and no study folder to put the default SQLite file in")
    u = normalise_url(url)
    if u.drivername.startswith("sqlite"):
        if u.database and u.database != ":memory:" and not create and not Path(u.database).is_file():
            raise InputError(f"db: {u.database} does not exist; invite readers first (`{invite}`)")
        if u.database and u.database != ":memory:":
            _private_file(Path(u.database))
        engine, light = _sqlite_engine(u), _sqlite_engine(u, "NORMAL")
    else:
        light = None
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingDependencyError("db='postgresql'://... requires the psycopg library, which is not installed. "
                                         "Install it with: pip install 'fairskin[reader]'") from None
        engine = sa.create_engine(u, pool_size=20, max_overflow=10, pool_pre_ping=True, pool_timeout=60)
    try:
        with engine.connect().execution_options(fs_write=True) as conn, conn.begin():
            migrate(conn)
    except OperationalError as exc:
        engine.dispose()
        raise InputError(f"db: cannot open {display_url(url)}: {str(exc.orig).strip().splitlines()[0]}") from None
    return Store(engine, url, light_engine=light)
