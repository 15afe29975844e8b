"""The learned estimator's optional image backbone: a tiny timm model (seeded, saved to safetensors in
tmp, never downloaded) fits inside the nested cross-validation, round-trips through the model JSON,
and a different weights file is refused at load time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fairskin.cli import main
from fairskin.errors import InputError
from PIL import Image

from fairskin.label import embed_images, load_backbone_model, load_learned_estimator

timm = pytest.importorskip("timm")
torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

ARCH = "test_resnet"  # timm's tiny test architecture


def _weights(path, seed=0):
    torch.manual_seed(seed)
    net = timm.create_model(ARCH, pretrained=False, num_classes=0)
    safetensors_torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_backbone_loads_only_the_local_file_and_embeds(tmp_path):
    w = _weights(tmp_path / "w.safetensors")
    net = load_backbone_model(ARCH, w)
    e = embed_images(net, [np.full((40, 50, 3), 120, np.uint8), np.zeros((30, 30, 3), np.uint8)], side=32)
    assert e.shape == (2, net.num_features) and np.isfinite(e).all() and not np.allclose(e[0], e[1])
    with pytest.raises(InputError, match="backbone_weights: file not found.*nope"):
        load_backbone_model(ARCH, tmp_path / "nope.safetensors")
    other = tmp_path / "other.safetensors"
    torch.manual_seed(0)
    safetensors_torch.save_file(timm.create_model("test_vit", pretrained=False, num_classes=0).state_dict(), str(other))
    with pytest.raises(InputError, match="does not hold test_resnet's weights"):
        load_backbone_model(ARCH, other)
    with pytest.raises(InputError, match="not a timm architecture"):
        load_backbone_model("no_such_net", w)


def test_backbone_options_without_their_partner_are_errors(tmp_path, capsys, photos):
    data = photos.pad_folder(tmp_path / "pad", n=3, size=64, with_cut_out=False)
    w = _weights(tmp_path / "w.safetensors")
    assert main(["fit-estimator", str(data), "--out", str(tmp_path / "m.json"), "--backbone-weights", str(w)]) == 2
    assert "--backbone NAME" in capsys.readouterr().err
    assert main(["label", str(data), "--estimator", "ita", "--backbone-weights", str(w), "--out",
                 str(tmp_path / "l.csv"), "-q"]) == 2
    assert "only a learned estimator" in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "l.csv").exists()


def test_fit_with_backbone_round_trips_and_refuses_other_weights(tmp_path, capsys, photos):
    data = photos.pad_folder(tmp_path / "pad", n=40, size=64, with_cut_out=False)
    w = _weights(tmp_path / "w.safetensors")
    model = tmp_path / "model.json"
    assert main(["fit-estimator", str(data), "--out", str(model), "--keep", "0.9", "--backbone", ARCH,
                 "--backbone-weights", str(w), "--backbone-components", "3", "-q"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "backbone: test_resnet" in out and "cross-validated" in out
    saved = json.loads(model.read_text())
    bb = saved["backbone"]
    assert bb["name"] == ARCH and len(bb["sha256"]) == 64 and len(bb["pca_components"]) == 3
    assert saved["features"][-3:] == ["bb_pc1", "bb_pc2", "bb_pc3"]
    assert "PCA" in saved["fitted_on"]["features"]
    assert saved["cross_validated"]["kappa"] > 0.5  # colour still carries the type with the PCs appended

    est = load_learned_estimator(model)  # the recorded path
    assert est.backbone.sha256 == bb["sha256"] and est.to_dict() == saved
    rgb = np.asarray(Image.open(next((data / "images").glob("*.png"))))
    e = est.estimate_rgb(rgb)
    assert e.tone in range(1, 7) or e.status == "unreliable"

    wrong = _weights(tmp_path / "wrong.safetensors", seed=1)
    with pytest.raises(InputError, match="SHA-256"):
        load_learned_estimator(model, backbone_weights=wrong)
    labels = tmp_path / "l.csv"
    assert main(["label", str(data), "--estimator", str(model), "--backbone-weights", str(wrong), "--out",
                 str(labels), "-q"]) == 2
    assert "SHA-256" in capsys.readouterr().err.replace("\n", " ")
    moved = tmp_path / "moved.safetensors"
    w.rename(moved)
    with pytest.raises(InputError, match="recorded backbone weights"):
        load_learned_estimator(model)
    assert main(["label", str(data), "--estimator", str(model), "--backbone-weights", str(moved), "--out",
                 str(labels), "-q"]) == 0
    df = pd.read_csv(labels)
    assert df["fst"].notna().sum() > len(df) / 2
