"""Saliency and counterfactual skin tone per skin type, with models whose answer is known.

The images: skin of a known ITA with a dark lesion disk in the middle and its mask. The models
(fixed weights, no training): one scores the darkness of a ring of skin around the lesion (it
decides on skin colour alone), one the darkness of the lesion's centre (it never sees skin), one
shifts its attention from the lesion to the skin as the skin gets darker.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_grad_cam")

from fairskin.audits.why._counterfactual import retone, target_ita  # noqa: E402
from fairskin.audits.why._explain import explain_model  # noqa: E402
from fairskin.audits.models._models import LoadedModel, to_probability, positive_log_odds  # noqa: E402
from fairskin.audits.why._saliency import choose_target_layer  # noqa: E402
from fairskin.audits.stats._unitstats import group_means, unit_ids  # noqa: E402
from fairskin.errors import InputError  # noqa: E402
from fairskin.label import LesionMasks, estimate_rgb, lab_to_srgb  # noqa: E402
from fairskin.skintone import group_of  # noqa: E402

SIZE = 64
TYPE_ITA = {1: 62.0, 2: 48.0, 3: 34.0, 4: 23.0, 5: 14.0, 6: -20.0}
IDENTITY = {"output": "logits", "mean": [0, 0, 0], "std": [1, 1, 1], "resize": SIZE, "crop": SIZE}
PER_TYPE = 6


def _disk(r: float) -> np.ndarray:
    yy, xx = (np.mgrid[:SIZE, :SIZE] + 0.5) / SIZE - 0.5
    return np.hypot(yy, xx) < r


def _ring(r0: float, r1: float) -> np.ndarray:
    yy, xx = (np.mgrid[:SIZE, :SIZE] + 0.5) / SIZE - 0.5
    d = np.hypot(yy, xx)
    return (d >= r0) & (d < r1)


LESION = _disk(0.22)


def skin_image(ita: float, seed: int) -> np.ndarray:
    """Skin of exactly this ITA (b* 14, mild texture) with a dark lesion disk of radius 0.22."""
    rng = np.random.default_rng(seed)
    b = 14.0
    L = 50.0 + b * math.tan(math.radians(ita))
    lab = np.empty((SIZE, SIZE, 3), np.float32)
    lab[:] = (L, 9.0, b)
    lab[..., 0] += rng.normal(0, 0.4, (SIZE, SIZE))
    lab[LESION] = (max(L - 25.0, 12.0), 13.0, b + 5.0)
    return np.clip(lab_to_srgb(lab) * 255 + 0.5, 0, 255).astype(np.uint8)


class Focus(torch.nn.Module):
    """Multiplies a one-channel darkness map by fixed spatial weights; with ``shift`` the weights move
    from the centre to the ring as the ring gets darker."""

    def __init__(self, centre: np.ndarray, ring: np.ndarray, shift: bool = False):
        super().__init__()
        for name, w in (("centre", centre), ("ring", ring)):
            self.register_buffer(name, torch.tensor(w / max(w.sum(), 1.0), dtype=torch.float32)[None, None])
        self.shift = shift

    def forward(self, a):
        if not self.shift:
            return a * (self.centre + self.ring)
        g = (a * self.ring).sum(dim=(1, 2, 3), keepdim=True)  # darkness of the skin ring, 0..1
        return a * (self.centre * (1 - g) + self.ring * g)


class DarknessModel(torch.nn.Module):
    """logit(malignant) = k * (weighted darkness - c): conv (darkness = 1 - mean RGB), ReLU, Focus, sum."""

    def __init__(self, centre, ring, *, c: float, k: float = 40.0, shift: bool = False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(-1.0 / 3)
            self.conv.bias.fill_(1.0)
        self.relu = torch.nn.ReLU()
        self.focus = Focus(centre, ring, shift)
        self.c, self.k = c, k

    def forward(self, x):
        d = self.focus(self.relu(self.conv(x))).sum(dim=(1, 2, 3))
        z = self.k * (d - self.c)
        return torch.stack([torch.zeros_like(z), z], dim=1)


def _darkness(rgb: np.ndarray, where: np.ndarray) -> float:
    return float(1 - rgb[where].mean() / 255.0)


RING = _ring(0.32, 0.45)
CENTRE = _disk(0.12)
ZERO = np.zeros((SIZE, SIZE))


@pytest.fixture(scope="module")
def skin_data(tmp_path_factory):
    """PER_TYPE images of each type I-VI, their lesion masks and a frame of 'predictions'."""
    root = tmp_path_factory.mktemp("skin")
    (root / "masks").mkdir()
    rows = []
    for t, ita in TYPE_ITA.items():
        for i in range(PER_TYPE):
            name = f"t{t}_{i}.png"
            Image.fromarray(skin_image(ita + (i - PER_TYPE / 2) * 0.5, seed=10 * t + i)).save(root / name)
            Image.fromarray(LESION.astype(np.uint8) * 255).save(root / "masks" / f"t{t}_{i}_mask.png")
            rows.append({"image": name, "score": 0.5, "label": i % 2, "tone": t, "tone_group": group_of(t)})
    return root, pd.DataFrame(rows)


def _loaded(module) -> LoadedModel:
    from pathlib import Path

    return LoadedModel(module.eval(), "pickle", Path("known.pt"), dict(IDENTITY))


def _explain(module, skin_data, **kw):
    root, frame = skin_data
    units = {img: f"image:{img}" for img in frame["image"]}
    return explain_model(_loaded(module), frame, root=root, threshold=0.5, units=units,
                         masks=LesionMasks(root / "masks"), n_boot=200, seed=0, min_group_n=5, **kw)


def _skin_cut() -> float:
    """Darkness of the skin ring halfway between types III and IV."""
    lo, hi = skin_image(TYPE_ITA[3], 0), skin_image(TYPE_ITA[4], 0)
    return (_darkness(lo, RING) + _darkness(hi, RING)) / 2


def test_retone_lands_in_the_requested_type_and_keeps_the_lesion():
    rgb = skin_image(TYPE_ITA[2], seed=1)
    for t in range(1, 7):
        r = retone(rgb, t, lesion=LESION)
        assert r.landed, (t, r.ita_after, r.target_ita)
        assert abs(r.ita_after - r.target_ita) < 1.5
        assert np.abs(r.rgb.astype(int) - rgb)[LESION].max() == 0
        assert estimate_rgb(r.rgb, lesion_mask=LESION).fst == t  # an independent read of the same estimator


def test_target_ita_is_inside_each_type_and_open_ends_are_cut():
    from fairskin.skintone import get_scale

    scale = get_scale()
    for t in range(1, 7):
        assert scale.fst(target_ita(t)) == t
    assert target_ita(1, open_end_width=10) == pytest.approx(scale.interval(1)[0] + 5)
    assert target_ita(6, open_end_width=10) == pytest.approx(scale.interval(6)[1] - 5)


def test_skin_colour_model_flips_and_lesion_model_does_not(skin_data):
    skin_model = DarknessModel(ZERO, RING.astype(float), c=_skin_cut())
    sec, tables = _explain(skin_model, skin_data, counterfactual_tone=True)
    cf = sec["counterfactual"]
    assert cf["landed"] >= 0.95
    cells = {(c["source"], c["target"]): c for c in cf["cells"] if c["level"] == "type"}
    # a light image re-toned to dark skin crosses the model's cut, and back
    assert cells[("I", "VI")]["flip_rate"]["value"] == 1.0
    assert cells[("VI", "I")]["flip_rate"]["value"] == 1.0
    assert cells[("I", "II")]["flip_rate"]["value"] == 0.0  # same side of the cut
    assert cells[("I", "VI")]["mean_score_change"]["value"] > 0.5  # darker skin: scored more malignant
    src = {s["source"]: s for s in cf["sources"]}
    assert src["I-II"]["score_change_darker"]["ci_low"] > 0
    assert src["V-VI"]["score_change_lighter"]["ci_high"] < 0

    lesion_model = DarknessModel(CENTRE.astype(float), ZERO, c=0.5)
    sec, tables = _explain(lesion_model, skin_data, counterfactual_tone=True)
    cf = sec["counterfactual"]
    assert cf["flip_rate"]["value"] == 0.0
    assert tables["counterfactual"]["delta"].abs().max() == 0.0
    assert all(c["flip_rate"]["value"] == 0.0 for c in cf["cells"])


def test_saliency_shares_follow_what_the_model_looks_at(skin_data):
    sec, table = _explain(DarknessModel(CENTRE.astype(float), ZERO, c=0.5), skin_data, saliency="gradcam")
    s = sec["saliency"]
    assert s["layer"] == "focus" and s["layer_chosen"] == "last spatial feature map"
    assert s["lesion_masks"] == {"given": 6 * PER_TYPE}
    assert table["saliency"]["share_lesion"].min() > 0.99
    sec, table = _explain(DarknessModel(ZERO, RING.astype(float), c=0.5), skin_data, saliency="hirescam")
    assert table["saliency"]["share_lesion"].max() < 0.01
    assert table["saliency"]["share_skin"].min() > 0.9
    gap = next(t for t in sec["saliency"]["tests"] if t["name"] == "lesion_share_gap")
    assert abs(gap["value"]) < 0.01


def test_saliency_gap_test_finds_a_model_that_looks_at_skin_on_dark_skin(skin_data):
    model = DarknessModel(CENTRE.astype(float), RING.astype(float), c=0.5, shift=True)
    sec, table = _explain(model, skin_data, saliency="gradcam")
    s = sec["saliency"]
    by = {g["group"]: g["shares"]["lesion"]["value"] for g in s["groups"] if g["level"] == "type"}
    assert by["I"] > by["III"] > by["VI"]
    assert s["level"] == "type"
    gap = next(t for t in s["tests"] if t["name"] == "lesion_share_gap")
    assert gap["groups"] == ["I", "VI"] and gap["ci_low"] > 0 and gap["p_value"] < 0.05
    homo = next(t for t in s["tests"] if t["name"] == "lesion_share_homogeneity")
    assert homo["p_value"] < 0.05
    # overlays: correct and wrong predictions, as embedded JPEGs
    assert s["examples"] and all(e["overlay"].startswith("data:image/jpeg;base64,") for e in s["examples"])
    assert {e["outcome"] for e in s["examples"]} <= {"correct", "wrong"}


def test_log_odds_is_the_logit_of_the_audited_probability():
    g = torch.Generator().manual_seed(0)
    for c, names in ((1, None), (2, None), (7, ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"])):
        out = torch.randn(5, c, generator=g) * 3
        meta = {"class_names": names} if names else {}
        p = to_probability(out, meta=meta, num_classes=None, positive_class=None, class_names=None, output="logits",
                            path=None)
        z = positive_log_odds(out, meta=meta)
        assert torch.allclose(torch.sigmoid(z), p.float(), atol=1e-6)


def test_target_layer_for_timm_cnn_and_vit_and_errors():
    timm = pytest.importorskip("timm")
    cnn = timm.create_model("resnet18", pretrained=False, num_classes=2)
    assert choose_target_layer(cnn, input_size=64).name == "layer4"
    assert choose_target_layer(cnn, input_size=64, name="layer3").chosen == "given"
    vit = timm.create_model("test_vit", pretrained=False, num_classes=2)
    layer = choose_target_layer(vit, input_size=32)
    assert layer.name.endswith(".norm1") and layer.reshape is not None
    tokens = torch.zeros(2, 1 + 16, 8)
    assert tuple(layer.reshape(tokens).shape) == (2, 8, 4, 4)
    with pytest.raises(InputError, match=r"saliency_layer: the model has no module 'layer5'\. Did you mean 'layer4'"):
        choose_target_layer(cnn, input_size=64, name="layer5")
    with pytest.raises(InputError, match="cannot be hooked"):
        choose_target_layer(torch.jit.script(DarknessModel(ZERO, RING.astype(float), c=0.5)), input_size=SIZE)


def test_unit_bootstrap_covers_the_true_mean_at_the_stated_rate():
    """Clustered data (patients with 1-4 images sharing a patient effect): the 95% percentile
    interval of the unit bootstrap covers the true mean in about 95% of 300 simulations."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(300):
        sizes = rng.integers(1, 5, 40)
        effect = np.repeat(rng.normal(0, 1, 40), sizes)
        values = effect + rng.normal(0, 0.5, sizes.sum())
        units = np.repeat(np.arange(40), sizes).astype(str)
        point, boot, n_units = group_means(values[:, None], units, n_boot=400, rng=rng)
        lo, hi = np.quantile(boot[:, 0], [0.025, 0.975])
        hits += lo <= 0.0 <= hi
        assert n_units == 40
    assert 0.89 <= hits / 300 <= 0.99


def test_unit_ids_use_patients_where_named():
    df = pd.DataFrame({"image": ["a", "b", "c"], "patient_id": ["p1", "p1", None]})
    ids, unit = unit_ids(df, df["image"])
    assert unit == "patient" and list(ids) == ["patient:p1", "patient:p1", "image:c"]
    ids, unit = unit_ids(df.drop(columns="patient_id"), df["image"])
    assert unit == "image" and list(ids) == ["image:a", "image:b", "image:c"]


@pytest.fixture(scope="module")
def phantom_model(tmp_path_factory):
    """A seeded timm ResNet-18 (random weights) saved as a state dict, and 24 phantoms in DDI's layout."""
    import json

    timm = pytest.importorskip("timm")
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("why-cli")
    write_demo_dataset(root / "data", DemoConfig(n=24, size=48, seed=3))
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=2)
    torch.save(model.state_dict(), root / "r18.pt")
    (root / "r18.pt.json").write_text(json.dumps({"arch": "resnet18", "num_classes": 2, "resize": 48, "crop": 48}))
    return root


def test_cli_writes_the_sections_and_the_report(phantom_model, tmp_path):
    import json

    from fairskin.cli import main

    out, html = tmp_path / "audit.json", tmp_path / "report.html"
    rc = main(["audit", str(phantom_model / "r18.pt"), "--data", str(phantom_model / "data"), "--n-boot", "50",
               "--saliency", "gradcam++", "--counterfactual-tone", "--min-group-n", "5", "--json", str(out),
               "--html", str(html), "--save-predictions", str(tmp_path / "preds"), "-q"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["schema"] == "fairskin.audit/2" and list(d)[-2:] == ["saliency", "counterfactual"]
    s, c = d["saliency"][0], d["counterfactual"][0]
    assert s["model"] == "r18.pt" and s["layer"] == "layer4" and s["method"] == "gradcam++"
    assert s["n_images"] + s["n_bad"] == 24 and s["level"] == "group"
    for g in s["groups"]:
        total = sum(g["shares"][k]["value"] for k in ("lesion", "skin", "background"))
        assert total == pytest.approx(1.0)
    assert c["n_retoned"] == 24 * 4 and c["landed"] >= 0.9  # groups: each image to the 4 types outside its group
    per_image = pd.read_csv(tmp_path / "preds" / "r18.pt.counterfactual.csv")
    assert len(per_image) == 24 * 4
    text = html.read_text()
    assert 'id="why-saliency-0"' in text and 'id="why-counterfactual-0"' in text


def test_cli_errors_name_the_option(phantom_model, tmp_path, capsys):
    from fairskin.cli import main

    data = str(phantom_model / "data")
    assert main(["audit", str(phantom_model / "r18.pt"), "--data", data, "--saliency", "gradcm", "-q"]) == 2
    assert "saliency: unknown method 'gradcm'" in capsys.readouterr().err
    assert main(["audit", str(phantom_model / "r18.pt"), "--data", data, "--saliency-layer", "layer4", "-q"]) == 2
    assert "--saliency-layer: given without saliency" in " ".join(capsys.readouterr().err.split())
    csv = tmp_path / "p.csv"
    pd.DataFrame({"image": ["a"], "score": [0.5], "label": [1], "fst": [3]}).to_csv(csv, index=False)
    assert main(["audit", str(csv), "--counterfactual-tone", "-q"]) == 2
    assert "p.csv is a predictions CSV" in " ".join(capsys.readouterr().err.split())
