"""`fairskin audit model.onnx`: a tiny model exported from torch in-process, scored through
onnxruntime with the same known answers as the torch formats; missing preprocessing, custom
operators and damaged files refused with errors that say what to do."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'fairskin[audit]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'fairskin[audit]')")

from fairskin.audits.classifier import audit_model, load_model, predict  # noqa: E402
from fairskin.cli import main  # noqa: E402
from fairskin.errors import InputError  # noqa: E402

IDENTITY = {"output": "probabilities", "mean": [0, 0, 0], "std": [1, 1, 1], "resize": 24, "crop": 24}


class RedMean(torch.nn.Module):
    """Known answer: P(malignant) = mean red value of the (un-normalised) input, in [0, 1]."""

    def forward(self, x):
        p = x[:, 0].mean(dim=(1, 2)).clamp(0, 1)
        return torch.stack([1 - p, p], dim=1)


class RedMeanNHWC(torch.nn.Module):
    """The same answer from a channels-last input (as Keras models take)."""

    def forward(self, x):
        p = x[..., 0].mean(dim=(1, 2)).clamp(0, 1)
        return torch.stack([1 - p, p], dim=1)


def _export(module, path: pathlib.Path, *, shape=(1, 3, 24, 24), meta: dict | None = None) -> pathlib.Path:
    torch.onnx.export(module, (torch.rand(*shape),), str(path), input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False)
    if meta is not None:
        m = onnx.load(str(path))
        entry = m.metadata_props.add()
        entry.key, entry.value = "fairskin.json", json.dumps(meta)
        onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def uniform_data(tmp_path_factory) -> pathlib.Path:
    """Plain-colour images of known red value in a Hugging Face imagefolder (as the torch tests)."""
    root = tmp_path_factory.mktemp("uniform-onnx")
    rows = []
    for i in range(12):
        red = 20 + 18 * i
        Image.fromarray(np.full((40 + 10 * (i % 2), 60, 3), (red, 100, 60), np.uint8)).save(root / f"u{i:02d}.png")
        rows.append({"file_name": f"u{i:02d}.png", "malignant": bool(i % 2), "fst": 1 + i % 6})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def _red(uniform_data) -> np.ndarray:
    df = pd.read_csv(uniform_data / "metadata.csv")
    return np.array([np.asarray(Image.open(uniform_data / f))[0, 0, 0] / 255 for f in df["file_name"]])


@pytest.mark.parametrize("module,shape", [(RedMean(), (1, 3, 24, 24)), (RedMeanNHWC(), (1, 24, 24, 3))],
                         ids=["nchw", "nhwc"])
def test_onnx_scores_the_known_answer_with_metadata_from_the_file(uniform_data, tmp_path, module, shape):
    path = _export(module, tmp_path / "red.onnx", shape=shape, meta=IDENTITY)
    model = load_model(path)  # no trust_model: an ONNX graph runs no Python
    assert model.kind == "onnx" and model.metadata["preprocess_required"] == []
    from fairskin.data import read_dataset

    df = read_dataset(uniform_data)
    scores, status, _ = predict(model, df, device="cpu", progress=False, batch_size=5)
    assert set(status) == {"ok"}
    np.testing.assert_allclose(scores, _red(uniform_data), atol=1e-5)


def test_missing_normalisation_is_a_clear_error_and_options_supply_it(uniform_data, tmp_path):
    path = _export(RedMean(), tmp_path / "bare.onnx")  # no metadata at all; crop from the graph's 24 x 24
    model = load_model(path)
    assert model.metadata["crop"] == 24 and model.metadata["preprocess_required"] == ["mean", "std"]
    with pytest.raises(InputError) as e:
        audit_model(path, uniform_data, n_boot=5, progress=False, model_output="probabilities")
    assert str(e.value) == ("model: the ONNX file's metadata does not give mean, std; give mean=..., std=... "
                            "(see docs/onnx.md)")
    res = audit_model(path, uniform_data, n_boot=5, progress=False, mean=[0, 0, 0], std=[1, 1, 1],
                      model_output="probabilities")
    assert res.to_dict()["models"][0]["overall"]["n"] == 12


def test_wrong_input_size_names_the_crop_option(uniform_data, tmp_path):
    path = _export(RedMean(), tmp_path / "fixed.onnx", meta={**IDENTITY, "resize": 32, "crop": 32})
    with pytest.raises(InputError, match=r"the graph takes 24x24 images, the audit gives 32x32; set crop=24"):
        audit_model(path, uniform_data, n_boot=5, progress=False)


def test_custom_operator_domain_is_refused(uniform_data, tmp_path):
    path = _export(RedMean(), tmp_path / "custom.onnx", meta=IDENTITY)
    m = onnx.load(str(path))
    m.graph.node[0].domain = "ai.onnx.contrib"  # onnxruntime-extensions' domain (PyOp runs Python)
    m.opset_import.add(domain="ai.onnx.contrib", version=1)
    onnx.save(m, str(path))
    with pytest.raises(InputError) as e:
        load_model(path)
    assert "refusing to load: the graph uses the custom operator domain 'ai.onnx.contrib'" in str(e.value)
    assert "Re-export the model with standard ONNX operators" in str(e.value)


def test_custom_domain_inside_a_subgraph_is_found():
    from fairskin.audits.models._onnx import onnx_domains
    from onnx import helper

    inner = helper.make_graph([helper.make_node("Evil", ["x"], ["y"], domain="my.ops")], "body", [], [])
    node = helper.make_node("If", ["c"], ["z"], then_branch=inner, else_branch=inner)
    outer = helper.make_graph([node], "g", [], [])
    assert onnx_domains(helper.make_model(outer))["my.ops"] == "Evil"


def test_damaged_onnx_file_is_a_clear_error(tmp_path):
    path = _export(RedMean(), tmp_path / "cut.onnx", meta=IDENTITY)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match=r"cut.onnx: not a readable ONNX file"):
        load_model(path)


def test_cli_audits_an_onnx_model(demo_data, tmp_path):
    path = _export(RedMean(), tmp_path / "red.onnx", shape=(1, 3, 32, 32),
                   meta={"output": "probabilities", "mean": [0, 0, 0], "std": [1, 1, 1]})
    out = tmp_path / "a.json"
    rc = main(["audit", str(path), "--data", str(demo_data), "--n-boot", "20", "--json", str(out), "-q"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["models"][0]["name"] == "red.onnx" and d["models"][0]["overall"]["n"] == 120
