"""The reader-study commands end to end through ``fairskin.cli.main``: create, invite, answers,
analyze (HTML + JSON); bad input exits 2 with the message and no traceback."""

from __future__ import annotations

import json
import uuid

import pandas as pd

from fairskin.cli import main


def test_create_invite_analyze(balanced, tmp_path, capsys):
    study = tmp_path / "study"
    assert main(["reader-study", "create", str(balanced), "--out", str(study), "--n", "12", "--size", "48",
                 "--calibration", "2", "--time-limit", "30", "-q"]) == 0
    out = capsys.readouterr().out
    assert "12 (6 real, 6 synthetic)" in out and "next: fairskin reader-study invite" in out
    assert main(["reader-study", "invite", str(study), "--readers", "3", "--url", "http://example.org:9000"]) == 0
    out = capsys.readouterr().out
    assert out.count("http://example.org:9000/r/") == 4 and "admin" in out

    # three readers answer everything: reader-01 always right, the others always "real"
    from fairskin.reader_study._store import open_store, reader_order
    from fairskin.reader_study import read_study_file

    key = pd.read_csv(study / "private" / "answer_key.csv", dtype={"id": str}).set_index("id")
    items = read_study_file(study).items
    store = open_store(study)
    links = pd.read_csv(study / "private" / "invites.csv")
    for row in links[links["role"] == "reader"].itertuples():
        reader = store.reader_by_token(row.link.rsplit("/r/", 1)[1])
        order = [items[i] for i in reader_order(len(items), reader.order_seed)]
        for item in order:
            call = key.loc[item, "origin"] if row.name == "reader-01" else "real"
            v = {"origin": call, "realism": 4, "confidence": 3, "diagnosis": None, "comment": None,
                 "nonce": uuid.uuid4().hex, "client_ms": None}
            assert store.record_answer(reader, order=order, item=item, values=v).status == "stored"
    store.dispose()

    html = tmp_path / "report.html"
    assert main(["reader-study", "analyze", str(study), "--html", str(html), "--json", "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "3 readers gave 36 answers on 12 images" in out
    data = json.loads((study / "analysis" / "reader_study.json").read_text())
    acc = {r["reader"]: r["accuracy"]["value"] for r in data["readers"]}
    assert acc == {"reader-01": 1.0, "reader-02": 0.5, "reader-03": 0.5}
    assert data["pooled"]["accuracy"]["value"] == 2 / 3 and html.is_file()
    assert main(["reader-study", "analyze", str(study), "--html", str(html)]) == 2  # not replaced
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_bad_manifest_exits_2_with_the_message(tmp_path, capsys):
    p = tmp_path / "m.csv"
    pd.DataFrame({"image": ["a.png"], "fst": [3]}).to_csv(p, index=False)
    assert main(["reader-study", "create", str(p), "--out", str(tmp_path / "s")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: MANIFEST" in err and "no origin column" in err and "Traceback" not in err
    assert main(["reader-study", "analyze", str(tmp_path / "nope")]) == 2
    assert "make a study with `fairskin reader-study create`" in " ".join(capsys.readouterr().err.split())
