"""``fairskin reader-study invite``: personal invite links (tokens) for readers, and one admin.

Each token is 32 random URL-safe characters; the database keeps only its SHA-256. The links are
printed once and appended to ``private/invites.csv`` (readable by the owner only), the one place
they are written down.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairskin.errors import InputError
from fairskin.reader_study._config import PRIVATE_DIR, ServeConfig, read_study_file
from fairskin.reader_study._store import open_store

__all__ = ["Invite", "invite_readers"]


@dataclass(frozen=True)
class Invite:
    name: str
    role: str  # reader | admin
    token: str
    link: str


def invite_readers(study: str | Path, *, readers: int = 0, names: Sequence[str] = (), url: str = ServeConfig().url,
                   db: str | None = None) -> list[Invite]:
    """Create ``readers`` new readers (named reader-01, ...) or one per name in ``names``; the first
    call also creates the study's admin. Returns the new invites (token and link)."""
    study = Path(study)
    sf = read_study_file(study)
    if readers < 0:
        raise InputError(f"readers: expected a number >= 0, got {readers}")
    if readers and names:
        raise InputError("readers=... and names=...: give one of them (names=... makes one reader per name)")
    names = [str(n).strip() for n in names]
    bad = [n for n in names if not n or len(n) > 100]
    if bad or len(set(names)) != len(names):
        raise InputError(f"names: expected distinct names of 1-100 characters, got {list(names)!r}")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"url: expected the server's address such as http://host:8000, got {url!r}")
    store = open_store(study, db=db)
    try:
        existing = store.reader_names()
        if not names:
            k = sum(1 for n in existing if n.startswith("reader-"))
            names = [f"reader-{k + i + 1:02d}" for i in range(readers)]
        new = [(n, t, "reader") for n, t in store.add_readers(names, role="reader", study_seed=sf.seed)]
        if "admin" not in existing:
            new += [(n, t, "admin") for n, t in store.add_readers(["admin"], role="admin", study_seed=sf.seed)]
    finally:
        store.dispose()
    base = url.rstrip("/")
    invites = [Invite(name=n, role=r, token=t, link=f"{base}/r/{t}") for n, t, r in new]
    path = study / PRIVATE_DIR / "invites.csv"
    path.parent.mkdir(exist_ok=True)
    first = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", newline="") as fh:
        w = csv.writer(fh)
        if first:
            w.writerow(["name", "role", "link"])
        for inv in invites:
            w.writerow([inv.name, inv.role, inv.link])
    return invites
