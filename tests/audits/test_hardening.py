"""`fairskin audit` and the feature extractors against bad and hostile inputs
(issue 19, rows 5, 6, 7, 8, 12, 13, 14)."""

from __future__ import annotations

import json
import pathlib
import tomllib

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from fairskin.audits.classifier import audit, audit_predictions  # noqa: E402
from fairskin.cli import main  # noqa: E402
from fairskin.errors import InputError  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


def _preds(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fst = np.arange(n) % 6 + 1
    y = rng.random(n) < 0.4
    return pd.DataFrame({"image": [f"i{i:04d}.png" for i in range(n)], "score": np.clip(0.5 + 0.3 * (y - 0.5) +
                         rng.normal(0, 0.2, n), 0, 1).round(4), "label": y.astype(int), "fst": fst})


class _Evil:
    """Unpickling this touches a marker file: the proof that a file's code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


# --------------------------------------------------------------------------- row 6: duplicates

def test_an_image_listed_twice_with_the_same_prediction_counts_once(tmp_path):
    df = _preds()
    dup = pd.concat([df, df[df["fst"] >= 5]], ignore_index=True)  # every V-VI row twice
    dup.to_csv(tmp_path / "p.csv", index=False)
    res = audit_predictions(tmp_path / "p.csv", n_boot=20)
    ref = audit_predictions(df, n_boot=20)
    m = res.model()
    assert m["counts"] == {"n_input": 160, "n_used": 120, "skipped": {"duplicate": 40}}
    assert [g["n"] for g in m["groups"]] == [g["n"] for g in ref.model()["groups"]]
    assert m["bad_rows"][0] == {"image": "i0004.png", "status": "duplicate",
                                "reason": "the same prediction repeated in another row; counted once"}


def test_an_image_listed_twice_with_different_predictions_is_refused(tmp_path):
    df = _preds()
    clash = pd.concat([df, df.iloc[[4]].assign(score=0.99)], ignore_index=True)
    clash.to_csv(tmp_path / "p.csv", index=False)
    raw = pd.read_csv(tmp_path / "p.csv", dtype=str)
    with pytest.raises(InputError) as e:
        audit_predictions(tmp_path / "p.csv", n_boot=20)
    y = raw["label"].iloc[4]
    assert str(e.value) == ("p.csv: 1 image(s) appear more than once with different predictions (e.g. 'i0004.png': "
                            f"line 6: score {raw['score'].iloc[4]!r}, label {y!r}, fst '5'; line 122: score '0.99', "
                            f"label {y!r}, fst '5'); which one is the model's cannot be known: give one row per image")


# --------------------------------------------------------------------------- rows 7 and 8: the file itself

@pytest.mark.parametrize("content, message", [
    (b"", "error: predictions: {p}: the file is empty; expected a CSV with a header row"),
    (b"image,score,label,fst\n", "error: predictions: {p} has a header but no rows; expected one row per image "
                                 "(columns found: image, score, label, fst)"),
    (b"\x00\x01\x02PK", "error: predictions: {p}: holds NUL bytes, so it is not a CSV text file (a spreadsheet or "
                        "binary file?); export it as CSV"),
])
def test_empty_header_only_and_binary_predictions_are_clear_errors(tmp_path, capsys, content, message):
    p = tmp_path / "p.csv"
    p.write_bytes(content)
    assert main(["audit", str(p), "--n-boot", "5"]) == 2
    assert " ".join(capsys.readouterr().err.split()) == message.format(p=p)


def test_a_semicolon_csv_with_a_byte_order_mark_and_decimal_commas_is_read(tmp_path):
    df = _preds()
    text = df.assign(score=df["score"].map(lambda v: f"{v:.4f}".replace(".", ","))).to_csv(sep=";", index=False)
    (tmp_path / "p.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    res = audit_predictions(tmp_path / "p.csv", n_boot=20)
    ref = audit_predictions(df, n_boot=20)
    assert res.model()["counts"]["n_used"] == 120
    assert res.model()["overall"]["metrics"]["auroc"]["value"] == pytest.approx(
        ref.model()["overall"]["metrics"]["auroc"]["value"])


# --------------------------------------------------------------------------- row 12 (and 7): model files

class _Red(torch.nn.Module):
    def forward(self, x):
        p = x[:, 0].mean(dim=(1, 2)).clamp(0, 1)
        return torch.stack([1 - p, p], dim=1)


@pytest.fixture()
def scripted(tmp_path) -> pathlib.Path:
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(_Red()), str(path))
    return path


def test_a_truncated_torchscript_file_says_it_is_damaged(scripted, demo_data):
    data = scripted.read_bytes()
    scripted.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        audit(scripted, data=demo_data, n_boot=5, progress=False)
    assert str(e.value) == (f"{scripted}: not a readable model file: it starts like a zip archive (TorchScript, "
                            "torch.export or torch.save) but the archive cannot be read, so the file is truncated or "
                            "damaged; copy or export it again")


def test_a_corrupt_torchscript_file_is_a_clear_error(scripted, demo_data, capsys):
    import zipfile

    bad = scripted.with_name("bad.pt")
    with zipfile.ZipFile(scripted) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename.endswith(".py") or "/code/" in item.filename:
                body = b"this is not TorchScript (" + body[:10]
            dst.writestr(item, body)
    assert main(["audit", str(bad), "--data", str(demo_data), "--n-boot", "5", "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: {bad}: a TorchScript file torch {torch.__version__} cannot load (damaged, or saved "
                          "by an incompatible torch): ")
    assert "Traceback" not in err


def test_a_folder_given_as_the_model_says_so(tmp_path, demo_data):
    (tmp_path / "model").mkdir()
    with pytest.raises(InputError) as e:
        audit(tmp_path / "model", data=demo_data, n_boot=5, progress=False)
    assert str(e.value) == (f"inputs: {tmp_path / 'model'} is a folder; expected a model file (TorchScript .pt, "
                            "torch.export .pt2, a state dict or .safetensors) or a predictions .csv")


# --------------------------------------------------------------------------- row 5: --save-predictions

def test_saved_predictions_are_never_replaced_unasked_and_are_spreadsheet_safe(scripted, tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i, name in enumerate(["=1+1.png", "@x.png", "ok.png", "b.png"]):
        Image.fromarray(np.full((30, 30, 3), (40 + 50 * i, 100, 60), np.uint8)).save(data / name)
        rows.append({"file_name": name, "malignant": i % 2 == 0, "fst": 1 + i})
    pd.DataFrame(rows).to_csv(data / "metadata.csv", index=False)
    saved = tmp_path / "preds" / "model.pt.predictions.csv"
    saved.parent.mkdir()
    saved.write_text("mine")
    with pytest.raises(InputError) as e:
        audit(scripted, data=data, n_boot=5, progress=False, save_predictions=saved.parent, resize=24, crop=24)
    assert str(e.value) == (f"save_predictions (model.pt): {saved} already exists; pass overwrite=True to replace it, "
                            "or choose another path")
    assert saved.read_text() == "mine"
    audit(scripted, data=data, n_boot=5, progress=False, save_predictions=saved.parent, resize=24, crop=24,
          overwrite=True)
    cells = sorted(line.split(",")[0] for line in saved.read_text().splitlines()[1:])
    assert cells == ["'=1+1.png", "'@x.png", "b.png", "ok.png"]
    again = audit(saved, n_boot=5)  # the saved file audits as it is, with the true names
    assert sorted(again.frames["model.pt.predictions.csv"]["image"]) == ["=1+1.png", "@x.png", "b.png", "ok.png"]


def test_json_and_html_of_audit_follow_the_output_rule(tmp_path, capsys):
    _preds().to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "r.json").write_text("mine")
    assert main(["audit", str(tmp_path / "p.csv"), "--n-boot", "5", "--html", str(tmp_path / "r.html")]) == 2
    assert "error: --html (its data, r.json): " in capsys.readouterr().err
    assert (tmp_path / "r.json").read_text() == "mine" and not (tmp_path / "r.html").exists()
    assert main(["audit", str(tmp_path / "p.csv"), "--n-boot", "5", "--html", str(tmp_path / "r.html"),
                 "--overwrite", "-q"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["schema"].startswith("fairskin.audit")


# --------------------------------------------------------------------------- row 13: weights files

def test_a_crafted_inception_weights_file_is_refused_before_its_code_runs(tmp_path):
    pytest.importorskip("torch_fidelity")
    from fairskin.audits.synthetic import load_extractor

    marker = tmp_path / "pwned"
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save({"fc.weight": torch.zeros(2), "x": _Evil(marker)}, weights)
    with pytest.raises(InputError) as e:
        load_extractor("inception", inception_weights=weights)
    assert str(e.value).startswith(f"inception_weights: refusing to load {weights}: it holds Python objects besides "
                                   "tensors, and unpickling them could run arbitrary code")
    assert not marker.exists()


def test_a_crafted_lpips_backbone_is_refused_before_its_code_runs(tmp_path):
    pytest.importorskip("lpips")
    from fairskin.audits.synthetic._fidelity import load_lpips

    marker = tmp_path / "pwned"
    weights = tmp_path / "alexnet.pth"
    torch.save({"features.0.weight": _Evil(marker)}, weights)
    with pytest.raises(InputError, match=r"^lpips_backbone: refusing to load "):
        load_lpips(weights)
    assert not marker.exists()


def test_a_crafted_hf_checkpoint_bin_is_refused_before_its_code_runs(tmp_path):
    tr = pytest.importorskip("transformers")
    from fairskin.audits.synthetic._features import HFExtractor

    cfg = tr.ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8, image_size=16,
                       patch_size=8)
    tr.ViTModel(cfg).save_pretrained(tmp_path / "vit")
    for f in (tmp_path / "vit").glob("*.safetensors"):  # a checkpoint of the older, pickled kind
        f.unlink()
    marker = tmp_path / "pwned"
    torch.save({"embeddings.cls_token": _Evil(marker)}, tmp_path / "vit" / "pytorch_model.bin")
    with pytest.raises(InputError, match=r"^hf_model: refusing to load "):
        HFExtractor(tmp_path / "vit")
    assert not marker.exists()


# --------------------------------------------------------------------------- row 14: torch floor

def test_the_torch_floor_is_2_6_and_older_torch_is_refused(tmp_path, monkeypatch):
    from fairskin.weights import load_weights

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["audit"]
    assert "torch>=2.6" in deps and "torchvision>=0.21" in deps
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    assert torch.equal(load_weights(tmp_path / "w.pt", arg="--x")["w"], torch.zeros(2))
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    with pytest.raises(InputError) as e:
        load_weights(tmp_path / "w.pt", arg="--x")
    assert str(e.value) == ("--x: torch 2.5.1 is older than 2.6, whose safe loading of weight files can be bypassed to "
                            "run code (CVE-2025-32434); upgrade torch (pip install 'torch>=2.6'), or give the weights "
                            "as a .safetensors file")
