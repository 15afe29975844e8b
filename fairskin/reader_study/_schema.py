"""The answer database: its tables as the app uses them now, and the migrations that build them.

The tables are SQLAlchemy Core objects (no SQL strings anywhere). A database records which
migrations it has had in ``rs_schema_version``; :func:`migrate` applies the missing ones in order,
each in the same transaction as its version row (PostgreSQL and SQLite both have transactional
DDL); migrations after the first change tables through Alembic's operations API
(``op.add_column``, ...). A database newer than this code is refused rather than guessed at.
Migration 1's tables are frozen in :func:`_tables_v1`; :data:`metadata` is them plus the changes
of later migrations, and ``tests/reader_study/test_store.py`` checks that a database built by the
migrations matches :data:`metadata` exactly.

Times are naive UTC datetimes (SQLite keeps no time zone).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fairskin.errors import InputError

__all__ = ["metadata", "readers", "answers", "views", "settings", "schema_version", "Migration", "MIGRATIONS",
           "migrate", "current_version", "utcnow"]


def _tables_v1(md: sa.MetaData) -> sa.MetaData:
    """The tables as migration 1 creates them (frozen: later changes are new migrations)."""
    sa.Table(
        "rs_readers", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(10), nullable=False),  # reader | admin
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("order_seed", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("calibrated_at", sa.DateTime, nullable=True),
    )
    sa.Table(
        "rs_answers", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("rs_readers.id"), nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("realism", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("diagnosis", sa.String(200), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("shown_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime, nullable=False),
        sa.Column("server_ms", sa.Integer, nullable=False),
        sa.Column("client_ms", sa.Integer, nullable=True),
        sa.Column("over_time", sa.Boolean, nullable=False),
        sa.UniqueConstraint("reader_id", "item", name="uq_rs_answers_reader_item"),
        sa.UniqueConstraint("reader_id", "position", name="uq_rs_answers_reader_position"),
    )
    sa.Table(
        "rs_views", md,
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("rs_readers.id"), primary_key=True),
        sa.Column("item", sa.String(32), primary_key=True),
        sa.Column("shown_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "rs_settings", md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    sa.Table(
        "rs_schema_version", md,
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
    )
    return md


#: the schema the app uses: migration 1's tables, plus the changes of later migrations (none yet)
metadata = _tables_v1(sa.MetaData())
readers, answers, views, settings, schema_version = (metadata.tables[t] for t in (
    "rs_readers", "rs_answers", "rs_views", "rs_settings", "rs_schema_version"))


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    upgrade: Callable  # (alembic Operations, Connection) -> None


def _v1(op, conn: Connection) -> None:
    """The first schema: readers, answers, first views, settings (with the CSRF secret)."""
    md = _tables_v1(sa.MetaData())
    md.remove(md.tables["rs_schema_version"])  # made by migrate() itself
    md.create_all(conn)
    conn.execute(sa.insert(settings).values(key="csrf_secret", value=secrets.token_hex(32)))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "readers, answers, first views, settings", _v1),
)


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)


def migrate(conn: Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Bring the database on ``conn`` (inside a transaction) to the latest version; returns the
    versions applied."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    schema_version.create(conn, checkfirst=True)
    have = current_version(conn)
    latest = migrations[-1].version
    if have > latest:
        raise InputError(f"db: the answer database is at schema version {have}, newer than this fairskin "
                         f"understands ({latest}); upgrade fairskin to serve or analyse it")
    op = Operations(MigrationContext.configure(conn))
    done = []
    for m in migrations:
        if m.version > have:
            m.upgrade(op, conn)
            conn.execute(sa.insert(schema_version).values(version=m.version, description=m.description,
                                                          applied_at=utcnow()))
            done.append(m.version)
    return done
