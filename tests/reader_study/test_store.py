"""The answer store on SQLite and PostgreSQL: schema made by the migrations, answers accepted only
in the reader's own order, retries not stored twice, tokens stored as hashes."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from fairskin.errors import InputError
from fairskin.reader_study._schema import MIGRATIONS, Migration, metadata, migrate, schema_version
from fairskin.reader_study._store import hash_token, open_store, reader_order


def _values(**over):
    return {"origin": "real", "realism": 4, "confidence": 3, "diagnosis": None, "comment": None,
            "nonce": uuid.uuid4().hex, "client_ms": 1200, **over}


def test_migrations_build_exactly_the_declared_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = open_store(db=db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        versions = list(conn.scalars(sa.select(schema_version.c.version)))
    store.dispose()
    assert diff == []
    assert versions == [m.version for m in MIGRATIONS]


def test_reopening_applies_nothing_and_keeps_answers(db_url):
    store = open_store(db=db_url)
    (name, token), = store.add_readers(["r1"], role="reader", study_seed=0)
    reader = store.reader_by_token(token)
    order = ["%016x" % i for i in reader_order(3, reader.order_seed)]
    assert store.record_answer(reader, order=order, item=order[0], values=_values()).status == "stored"
    store.dispose()
    again = open_store(db=db_url)
    with again.engine.begin() as conn:
        assert migrate(conn) == []
    assert again.n_answered(again.reader_by_token(token).id) == 1
    again.dispose()


def test_a_later_migration_is_applied_in_order_and_keeps_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    store = open_store(db=url)
    store.add_readers(["r1"], role="reader", study_seed=0)
    store.dispose()

    def v2(op, conn):
        op.add_column("rs_readers", sa.Column("email", sa.String(200), nullable=True))

    store = open_store(db=url)
    with store.engine.begin() as conn:
        assert migrate(conn, MIGRATIONS + (Migration(2, "reader e-mail", v2),)) == [2]
    with store.engine.connect() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("rs_readers")}
        assert "email" in cols
        assert conn.scalar(sa.select(sa.func.count()).select_from(sa.table("rs_readers"))) == 1
    store.dispose()
    with pytest.raises(InputError) as e:  # this code knows only version 1
        open_store(db=url)
    assert str(e.value) == ("db: the answer database is at schema version 2, newer than this fairskin understands "
                            "(1); upgrade fairskin to serve or analyse it")


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    store = open_store(db=f"sqlite:///{tmp_path / 'a.sqlite'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.dispose()


def test_order_position_and_retries(db_url):
    store = open_store(db=db_url)
    (_, token), = store.add_readers(["r1"], role="reader", study_seed=0)
    reader = store.reader_by_token(token)
    order = ["%016x" % i for i in range(4)]
    assert store.record_answer(reader, order=order, item=order[1], values=_values()).status == "conflict"
    v = _values()
    assert store.record_answer(reader, order=order, item=order[0], values=v).status == "stored"
    assert store.record_answer(reader, order=order, item=order[0], values=v).status == "repeated"  # same nonce
    again = store.record_answer(reader, order=order, item=order[0], values=_values())
    assert (again.status, again.message) == ("conflict", "this is not the image you are at (it was answered already "
                                                         "or is still to come); reload to continue")
    for item in order[1:]:
        assert store.record_answer(reader, order=order, item=item, values=_values()).status == "stored"
    assert store.record_answer(reader, order=order, item=order[0], values=_values()).message == \
        "all images are answered already"
    df = store.answers_frame()
    assert list(df["position"]) == [0, 1, 2, 3] and list(df["item"]) == order
    store.dispose()


def test_tokens_are_stored_hashed(db_url):
    store = open_store(db=db_url)
    pairs = store.add_readers(["a", "b"], role="reader", study_seed=1)
    with store.engine.connect() as conn:
        stored = list(conn.execute(sa.text("SELECT token_sha256, order_seed FROM rs_readers")))
    assert {h for h, _ in stored} == {hash_token(t) for _, t in pairs}
    assert not any(t in h for h, _ in stored for _, t in pairs)
    assert len({s for _, s in stored}) == 2  # each reader their own order
    assert store.reader_by_token("not-a-token") is None and store.reader_by_token("") is None
    with pytest.raises(InputError, match=r"names: reader name\(s\) \['a'\] already exist"):
        store.add_readers(["a"], role="reader", study_seed=1)
    store.dispose()


def test_reader_orders_are_seeded_permutations():
    a, b = reader_order(50, 1), reader_order(50, 2)
    assert sorted(a) == list(range(50)) and list(a) == list(reader_order(50, 1)) and list(a) != list(b)


def test_bad_database_urls():
    with pytest.raises(InputError, match=r"db: 'mysql://x/y' .*|db: unsupported database 'mysql'"):
        open_store(db="mysql://x/y")
    with pytest.raises(InputError, match="db: 'not a url' is not a database URL"):
        open_store(db="not a url")
    with pytest.raises(InputError, match="db: cannot open postgresql\\+psycopg://u:\\*\\*\\*@127.0.0.1:1/x"):
        open_store(db="postgresql://u:secret@127.0.0.1:1/x")
