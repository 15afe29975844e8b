"""Auditing a model file: safe loading of every format, preprocessing, inference, bad images."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from fairskin.audits.classifier import audit, audit_model, load_model  # noqa: E402
from fairskin.cli import main  # noqa: E402
from fairskin.errors import InputError  # noqa: E402

IDENTITY = {"output": "probabilities", "mean": [0, 0, 0], "std": [1, 1, 1], "resize": 24, "crop": 24}


class RedMean(torch.nn.Module):
    """Known answer: P(malignant) = mean red value of the (un-normalised) input, in [0, 1]."""

    def forward(self, x):
        p = x[:, 0].mean(dim=(1, 2)).clamp(0, 1)
        return torch.stack([1 - p, p], dim=1)


class ThreeOut(torch.nn.Module):
    """Three 'probabilities': red, green, blue means normalised to sum to one."""

    def forward(self, x):
        m = x.mean(dim=(2, 3)) + 1e-6
        return m / m.sum(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def uniform_data(tmp_path_factory) -> pathlib.Path:
    """Plain-colour images of known red value, different sizes, in a Hugging Face imagefolder."""
    root = tmp_path_factory.mktemp("uniform")
    rows = []
    rng = np.random.default_rng(0)
    for i in range(16):
        red = 20 + 14 * i
        w, h = (40, 60) if i % 2 else (90, 50)
        Image.fromarray(np.full((h, w, 3), (red, 100, 60), np.uint8)).save(root / f"u{i:02d}.png")
        rows.append({"file_name": f"u{i:02d}.png", "malignant": bool(rng.random() < 0.5) if i > 1 else bool(i),
                     "fst": 1 + i % 6})
    (root / "broken.png").write_bytes(b"not a png")
    rows.append({"file_name": "broken.png", "malignant": True, "fst": 3})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def _script(module, path, meta=None):
    s = torch.jit.script(module)
    torch.jit.save(s, str(path), _extra_files={"fairskin.json": json.dumps(meta)} if meta else {})
    return path


def _scores(tmp_path, name) -> pd.Series:
    df = pd.read_csv(tmp_path / "preds" / f"{name}.predictions.csv")
    return df.set_index("image")["score"]


def test_torchscript_known_answer_batch_size_and_bad_image(uniform_data, tmp_path):
    model = _script(RedMean(), tmp_path / "red.pt", IDENTITY)
    res = audit_model(model, uniform_data, n_boot=20, batch_size=5, save_predictions=tmp_path / "preds",
                      progress=False)
    m = res.model()
    assert m["kind"] == "torchscript"
    assert m["counts"] == {"n_input": 17, "n_used": 16, "skipped": {"unreadable": 1}}
    assert m["bad_rows"] == [{"image": "broken.png", "status": "unreadable", "reason": "not an image file Pillow can read"}]
    got = _scores(tmp_path, "red.pt")
    expected = {f"u{i:02d}.png": (20 + 14 * i) / 255 for i in range(16)}
    for img, v in expected.items():
        assert got[img] == pytest.approx(v, abs=1e-6)
    # batch size and image size do not change the scores
    audit_model(model, uniform_data, n_boot=5, batch_size=1, resize=48, crop=40,
                save_predictions=tmp_path / "preds1", progress=False)
    other = pd.read_csv(tmp_path / "preds1" / "red.pt.predictions.csv").set_index("image")["score"]
    assert np.allclose(other[got.index], got, atol=1e-6)
    assert res.meta["fst_source"] == "human" and res.meta["fst_source_detail"] == "human Fitzpatrick types"


@pytest.fixture(scope="module")
def resnet():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=2).eval()


def test_every_format_gives_the_known_scores(resnet, uniform_data, tmp_path):
    """State dict, safetensors and torch.export archives of one model score every image as the
    model itself does on the (constant) preprocessed image. TorchScript: see the RedMean tests."""
    from safetensors.torch import save_file

    torch.save(resnet.state_dict(), tmp_path / "sd.pth")
    save_file(resnet.state_dict(), str(tmp_path / "w.safetensors"))
    batch = torch.export.Dim("batch", min=1, max=1024)
    ep = torch.export.export(resnet, (torch.zeros(2, 3, 32, 32),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(tmp_path / "m.pt2"))
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = torch.stack([torch.tensor([20.0 + 14 * i, 100.0, 60.0]) for i in range(16)]) / 255
    x = ((x - mean) / std)[:, :, None, None].expand(16, 3, 32, 32)
    with torch.inference_mode():
        expected = torch.softmax(resnet(x), 1)[:, 1].numpy()
    names = [f"u{i:02d}.png" for i in range(16)]
    kinds = {}
    for f in ("sd.pth", "w.safetensors", "m.pt2"):
        res = audit(tmp_path / f, data=uniform_data, arch="test_resnet", num_classes=2, resize=32, crop=32, n_boot=5,
                    batch_size=6, save_predictions=tmp_path / "preds", progress=False)
        kinds[f] = res.model()["kind"]
        assert np.allclose(_scores(tmp_path, f)[names].to_numpy(), expected, atol=1e-5), f
    assert kinds == {"sd.pth": "state_dict", "w.safetensors": "safetensors", "m.pt2": "export"}
    assert np.ptp(expected) > 1e-4  # the images do get different scores


def test_state_dict_needs_arch(resnet, tmp_path, uniform_data):
    torch.save(resnet.state_dict(), tmp_path / "sd.pth")
    with pytest.raises(InputError) as e:
        load_model(tmp_path / "sd.pth")
    assert str(e.value) == (f"{tmp_path / 'sd.pth'}: a state dict holds weights only; give the architecture with "
                            "arch=NAME (a timm model name, e.g. resnet50) and num_classes=N, or save 'arch' in the "
                            "model's metadata")
    with pytest.raises(InputError, match=r"^arch: 'test_resnte' is not a timm model name \(e\.g\. resnet18, .*\)\. Did you mean 'test_resnet'"):
        load_model(tmp_path / "sd.pth", arch="test_resnte")
    with pytest.raises(InputError, match=r"weights do not fit arch=test_resnet num_classes=5: "):
        load_model(tmp_path / "sd.pth", arch="test_resnet", num_classes=5)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_malicious_pickle_does_not_run_without_trust(tmp_path, how, uniform_data, capsys):
    import pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    if how == "torch.save":
        torch.save({"model": _Evil(str(marker))}, path)
    else:
        path.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(InputError) as e:
        load_model(path)
    assert str(e.value).startswith(
        f"{path}: refusing to load: this file is not TorchScript, a torch.export archive, safetensors or a plain state "
        "dict, and unpickling it could run arbitrary code. Re-export the model (torch.jit.save or a state dict with "
        "arch=...), or pass trust_model=True only if you trust its source. (torch.load with "
        "weights_only=True said: ")
    assert not marker.exists()
    # through the CLI too
    assert main(["audit", str(path), "--data", str(uniform_data), "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "refusing to load" in err and "pass --trust-model only" in err and "--arch ..." in err  # the CLI's flags
    assert not marker.exists()
    # the file really is malicious: trusting it runs its code
    with pytest.raises(InputError):
        load_model(path, trust_model=True)
    assert marker.exists()


def test_output_shape_and_classes(uniform_data, tmp_path):
    three = _script(ThreeOut(), tmp_path / "three.pt", IDENTITY)
    with pytest.raises(InputError) as e:
        audit_model(three, uniform_data, num_classes=2, n_boot=5, progress=False)
    assert str(e.value) == (f"{three}: model output shape (16, 3) does not fit: expected (batch, 2) for "
                            "num_classes=2")
    with pytest.raises(InputError) as e:
        audit_model(three, uniform_data, n_boot=5, progress=False)
    assert str(e.value) == (f"{three}: model has 3 outputs; say which mean malignant: give class_names with "
                            "HAM10000's mel, bcc, akiec (summed as malignant) or choose positive_class=...")
    # HAM names: malignant = mel + bcc; red share is 'mel', green share 'bcc'
    res = audit_model(three, uniform_data, class_names=["mel", "bcc", "nv"], n_boot=5, progress=False,
                      save_predictions=tmp_path / "preds")
    got = _scores(tmp_path, "three.pt")
    r = 20.0
    assert got["u00.png"] == pytest.approx((r + 100) / (r + 100 + 60), abs=1e-5)
    assert res.model()["counts"]["n_used"] == 16


def test_estimated_skin_types_from_labels_csv(uniform_data, tmp_path):
    model = _script(RedMean(), tmp_path / "red.pt", IDENTITY)
    labels = pd.DataFrame({"image": [f"u{i:02d}.png" for i in range(16)], "ita": 0.0,
                           "fst": [""] + [str(1 + (i % 3)) for i in range(1, 16)],
                           "confidence": 0.9, "status": ["no_skin"] + ["ok"] * 15, "reason": ["no healthy skin"] + [""] * 15})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    # every image has a human type: by the one rule (fairskin.label.resolve_tones) people's types win...
    auto = audit_model(model, uniform_data, labels=tmp_path / "labels.csv", n_boot=5, progress=False)
    assert auto.meta["fst_source"] == "human"
    # ...and fst_source='estimated' audits on the labels.csv's estimates instead
    res = audit_model(model, uniform_data, labels=tmp_path / "labels.csv", fst_source="estimated", n_boot=5,
                      progress=False)
    assert res.meta["fst_source"] == "estimated"
    assert res.meta["fst_source_detail"] == "estimated (ITA) from labels.csv"
    m = res.model()
    assert [g["group"] for g in m["groups"] if g["level"] == "type"] == ["I", "II", "III"]
    bad = {r["image"]: r for r in m["bad_rows"]}
    assert bad["u00.png"]["status"] == "no_fst"
    assert bad["u00.png"]["reason"] == "no estimated skin type in labels.csv (no_skin: no healthy skin)"
    pd.DataFrame({"image": ["a"], "skin": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError) as e:
        audit_model(model, uniform_data, labels=tmp_path / "bad.csv", n_boot=5, progress=False)
    assert str(e.value) == (f"labels: {tmp_path / 'bad.csv'} lacks column(s) 'fst'; found: image, skin; expected a "
                            "labels.csv written by fairskin label (image, ita, fst, confidence, status, reason)")


def test_cli_compares_two_models_on_demo_data(demo_data, tmp_path, capsys):
    """Known answer: b halves a's probability of malignancy, so it ranks
    every image exactly as a does; on the shared resamples every AUROC delta is 0, and the default
    criterion "AUROC on V-VI up by at least 10%" is not met: verdict fail, not conclusive only because
    the demo data's V-VI group (17 images) is flagged too small to judge."""
    a = _script(RedMean(), tmp_path / "a.pt", {"resize": 32, "crop": 32, "output": "probabilities"})

    class HalfRed(torch.nn.Module):
        def forward(self, x):
            p = 0.5 * x[:, 0].mean(dim=(1, 2)).clamp(0, 1)  # a's score halved: the same ranking
            return torch.stack([1 - p, p], dim=1)

    b = _script(HalfRed(), tmp_path / "b.pt", {"resize": 32, "crop": 32, "output": "probabilities"})
    out = tmp_path / "cmp.json"
    rc = main(["audit", str(a), str(b), "--data", str(demo_data), "--n-boot", "50", "--json", str(out), "-q"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert [m["name"] for m in d["models"]] == ["a.pt", "b.pt"]
    assert d["meta"]["fst_source_detail"] == "human Fitzpatrick groups (DDI skin_tone 12/34/56)"
    c = d["comparisons"][0]
    assert c["n_common"] == 120
    assert [x["group"] for x in c["criteria"]] == ["V-VI", "I-II", "III-IV"]
    auroc = [e for e in c["deltas"] if e["metric"] == "auroc" and e["delta"] is not None]
    assert auroc and all(e["delta"] == pytest.approx(0, abs=1e-12) for e in auroc)
    gain, *drops = c["criteria"]
    assert gain["observed"] == pytest.approx(0, abs=1e-12) and gain["passed"] is False
    assert gain["confident"] is False and gain["reason"].startswith("group V-VI is too small to judge")
    assert all(x["passed"] is True and x["observed"] == pytest.approx(0, abs=1e-12) for x in drops)
    assert c["verdict"] == "fail" and c["conclusive"] is False
    assert "b.pt vs a.pt" in capsys.readouterr().out


def test_model_without_data_is_an_error(tmp_path):
    model = _script(RedMean(), tmp_path / "red.pt")
    with pytest.raises(InputError) as e:
        audit(model)
    assert str(e.value) == "data: auditing a model needs the images: give the data set directory (data=DIR)"


def test_positive_class_relabels_the_data(demo_data, tmp_path):
    model = _script(RedMean(), tmp_path / "red.pt", IDENTITY)
    meta = pd.read_csv(demo_data / "ddi_metadata.csv")
    res = audit_model(model, demo_data, positive_class="melanoma", n_boot=5, progress=False)
    assert res.group("all")["positives"] == int((meta["disease"] == "melanoma").sum())
    assert res.meta["positive_class"] == "melanoma"
    with pytest.raises(InputError, match=r"^positive_class: no image has diagnosis 'melanomma'; diagnoses found: "):
        audit_model(model, demo_data, positive_class="melanomma", n_boot=5, progress=False)


def test_each_model_file_is_loaded_once_to_score_and_to_explain(uniform_data, tmp_path, monkeypatch):
    """The audit loaded every model twice (to score, and again for the why-audits)."""
    import fairskin.audits.models as models
    import fairskin.audits.why as why

    paths = [_script(RedMean(), tmp_path / "a.pt", IDENTITY), _script(RedMean(), tmp_path / "b.pt", IDENTITY)]
    loaded, explained = [], []
    real_load = models.load_model

    def counting_load(path, **kw):
        loaded.append(real_load(path, **kw))
        return loaded[-1]

    def recording_explain(model, frame, **kw):  # the why-audit itself is tests/audits/test_why.py's
        explained.append(model)
        return {}, {}

    monkeypatch.setattr(models, "load_model", counting_load)
    monkeypatch.setattr(why, "explain_model", recording_explain)
    res = audit(paths, data=uniform_data, n_boot=5, counterfactual_tone=True, min_group_n=1, progress=False)
    assert [m.path.name for m in loaded] == ["a.pt", "b.pt"]
    assert len(explained) == 2 and all(e is m for e, m in zip(explained, loaded))
    assert [m["name"] for m in res.models] == ["a.pt", "b.pt"]


def test_audit_reads_a_settings_file_from_python(uniform_data, tmp_path):
    model = _script(RedMean(), tmp_path / "red.pt", IDENTITY)
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text(f'[audit]\ndata = "{uniform_data}"\nn_boot = 7\nbatch_size = 3\nthreshold = 0.3\n'
                   'save_predictions = "preds"\n')
    res = audit(model, config=cfg, n_boot=9, progress=False)  # the argument wins over the file
    assert res.meta["n_boot"] == 9 and res.model()["threshold"] == 0.3 and res.config.batch_size == 3
    assert (tmp_path / "preds" / "red.pt.predictions.csv").is_file()  # relative to the file's folder
