"""Checking what a reader's browser posts: every field is parsed against the study's questions
and each problem becomes one sentence naming the field, the value and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fairskin.reader_study._config import ORIGINS, Questions

__all__ = ["parse_answer", "ITEM_ID", "NOT_SURE", "is_item_id"]

#: image ids are 16 lower-case hex digits (``secrets.token_hex(8)``)
ITEM_ID = re.compile(r"[0-9a-f]{16}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: the diagnosis answer that means "no diagnosis given"
NOT_SURE = ""
_MAX_CLIENT_MS = 24 * 3600 * 1000


def is_item_id(value: str) -> bool:
    return isinstance(value, str) and ITEM_ID.fullmatch(value) is not None


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _int_in(form: Mapping, key: str, lo: int, hi: int, errors: list[str], *, required: bool = True) -> int | None:
    raw = form.get(key)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            errors.append(f"{key}: missing; choose {lo}-{hi}")
        return None
    try:
        v = int(str(raw).strip())
    except ValueError:
        errors.append(f"{key}: expected a whole number {lo}-{hi}, got {_show(raw)}")
        return None
    if not lo <= v <= hi:
        errors.append(f"{key}: expected {lo}-{hi}, got {v}")
        return None
    return v


def parse_answer(form: Mapping, questions: Questions, *, max_comment: int) -> tuple[str, dict, list[str]]:
    """``(item, values, errors)`` from a posted form or JSON body; ``values`` are the database
    columns (origin, realism, confidence, diagnosis, comment, nonce, client_ms)."""
    errors: list[str] = []
    item = form.get("item")
    if not is_item_id(item):
        errors.append(f"item: expected an image id of 16 hex digits, got {_show(item)}")
    origin = form.get("origin")
    if origin not in ORIGINS:
        errors.append(f"origin: expected one of {', '.join(ORIGINS)}, got {_show(origin)}")
    realism = _int_in(form, "realism", questions.realism_min, questions.realism_max, errors)
    confidence = _int_in(form, "confidence", questions.confidence_min, questions.confidence_max, errors)
    diagnosis = form.get("diagnosis", NOT_SURE)
    if diagnosis is None:
        diagnosis = NOT_SURE
    if not isinstance(diagnosis, str) or (diagnosis != NOT_SURE and diagnosis not in questions.diagnoses):
        allowed = ", ".join(questions.diagnoses) if questions.diagnoses else "none"
        errors.append(f"diagnosis: expected one of the study's diagnoses ({allowed}) or empty for not sure, "
                      f"got {_show(diagnosis)}")
    elif diagnosis and not questions.ask_diagnosis:
        errors.append("diagnosis: this study does not ask for a diagnosis")
    comment = form.get("comment", "") or ""
    if not isinstance(comment, str):
        errors.append(f"comment: expected text, got {type(comment).__name__}")
        comment = ""
    comment = comment.replace("\r\n", "\n").strip()
    if len(comment) > max_comment:
        errors.append(f"comment: at most {max_comment} characters, got {len(comment)}")
    if "\x00" in comment:
        errors.append("comment: contains a NUL character")
    if comment and not questions.ask_comment:
        errors.append("comment: this study does not take comments")
    nonce = form.get("nonce")
    if not (isinstance(nonce, str) and _NONCE.fullmatch(nonce)):
        errors.append(f"nonce: expected 8-64 letters, digits, '-' or '_', got {_show(nonce)}")
    client_ms = _int_in(form, "client_ms", 0, _MAX_CLIENT_MS, errors, required=False)
    values = {"origin": origin, "realism": realism, "confidence": confidence, "diagnosis": diagnosis or None,
              "comment": comment or None, "nonce": nonce, "client_ms": client_ms}
    return (item if isinstance(item, str) else ""), values, errors
