"""Feature extraction: deterministic non-learned features, per-image cache, batch-size
independence, failures as rows, and loading learned extractors from local files.

Tests that build a network with random weights check only that the file is loaded and the
plumbing works; no number they produce is a FID or LPIPS value and none is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairskin.audits.synthetic import (
    INCEPTION_ENV, INCEPTION_WEIGHTS_FILE, INCEPTION_WEIGHTS_URL, ColourTextureExtractor, InceptionExtractor,
    ThumbnailExtractor, extract_features, load_extractor,
)
from fairskin.data import PhantomSpec, render_phantom
from fairskin.errors import InputError


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("feat")
    paths = []
    for i, ita in enumerate([60, 45, 30, 15, 0, -20, 50, 25]):
        p = d / f"img{i}.png"
        Image.fromarray(render_phantom(PhantomSpec(ita=ita, size=96, seed=i))).save(p)
        paths.append(p)
    return paths


def test_colour_texture_features_are_deterministic_and_follow_skin_tone(images):
    ext = ColourTextureExtractor()
    a = extract_features(images, ext, progress=False)
    b = extract_features(images, ext, progress=False)
    assert a.features.shape == (len(images), ext.dim) == (8, 45)
    np.testing.assert_array_equal(a.features, b.features)
    # feature 0 is the mean L* / 25: lighter phantoms (higher ITA) have higher L*
    itas = np.array([60, 45, 30, 15, 0, -20, 50, 25])
    assert np.corrcoef(itas, a.features[:, 0])[0, 1] > 0.9


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_features_do_not_depend_on_batch_size(images, batch_size):
    ref = extract_features(images, ColourTextureExtractor(), batch_size=8, progress=False).features
    got = extract_features(images, ColourTextureExtractor(), batch_size=batch_size, progress=False).features
    np.testing.assert_array_equal(got, ref)


def test_cache_is_reused_and_invalidated_by_a_changed_file(images, tmp_path):
    paths = []
    for p in images[:4]:
        q = tmp_path / p.name
        q.write_bytes(p.read_bytes())
        paths.append(q)
    cache = tmp_path / "cache"
    first = extract_features(paths, ThumbnailExtractor(16), cache_dir=cache, progress=False)
    assert (first.n_computed, first.n_cached) == (4, 0)
    again = extract_features(paths, ThumbnailExtractor(16), cache_dir=cache, progress=False)
    assert (again.n_computed, again.n_cached) == (0, 4)
    np.testing.assert_array_equal(again.features, first.features)
    # another extractor id does not read these entries
    other = extract_features(paths, ThumbnailExtractor(8), cache_dir=cache, progress=False)
    assert other.n_computed == 4
    # an edited image is recomputed (mtime and size are in the key)
    Image.fromarray(render_phantom(PhantomSpec(ita=-40, size=96, seed=99))).save(paths[0])
    st = paths[0].stat()
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    third = extract_features(paths, ThumbnailExtractor(16), cache_dir=cache, progress=False)
    assert (third.n_computed, third.n_cached) == (1, 3)
    assert not np.array_equal(third.features[0], first.features[0])


def test_unreadable_images_become_rows_with_a_status(images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    gone = tmp_path / "gone.png"
    fs = extract_features([images[0], bad, gone], ColourTextureExtractor(), progress=False)
    assert fs.status == ["ok", "unreadable", "missing"]
    assert np.isfinite(fs.features[0]).all() and np.isnan(fs.features[1:]).all()
    assert fs.ok.tolist() == [True, False, False]


def test_missing_inception_weights_say_which_file_and_where(monkeypatch, tmp_path):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(InputError) as err:
        load_extractor("inception")
    msg = str(err.value)
    assert msg.startswith("inception_weights: no Inception weights given")
    assert INCEPTION_WEIGHTS_FILE in msg and INCEPTION_WEIGHTS_URL in msg and INCEPTION_ENV in msg
    with pytest.raises(InputError, match=r"inception_weights: file not found: .*nope\.pth\. Expected "
                                         r"torch-fidelity's weights-inception-2015-12-05-6726825d\.pth"):
        InceptionExtractor(tmp_path / "nope.pth")


def test_unknown_extractor_suggests_the_closest():
    with pytest.raises(InputError, match=r"extractor: unknown extractor 'inceptoin'; expected one of inception, "
                                         r"classifier, hf, colour-texture\. Did you mean 'inception'\?"):
        load_extractor("inceptoin")


@pytest.mark.slow
def test_inception_plumbing_loads_the_named_file(images, tmp_path, monkeypatch, random_inception_weights):
    import torch

    weights = random_inception_weights
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    ext = load_extractor("inception")
    assert ext.dim == 2048 and weights.name in ext.description
    # random weights have another SHA-256 than torch-fidelity's file: their distance is an FD, never called FID
    assert not ext.is_fid and "not the published FID" in ext.description
    sd = torch.load(weights)
    assert torch.equal(ext.model.state_dict()["fc.weight"], sd["fc.weight"])
    fs = extract_features(images[:3], ext, batch_size=2, progress=False)
    assert fs.features.shape == (3, 2048) and np.isfinite(fs.features).all()
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"0" * 100)
    with pytest.raises(InputError, match="is not torch-fidelity's inception-v3-compat state dict"):
        InceptionExtractor(junk)


def test_lpips_backbone_is_loaded_from_the_local_file(tmp_path):
    """PLUMBING ONLY: a randomly initialised AlexNet stands in for torchvision's weights file."""
    import torch
    import torchvision

    from fairskin.audits.synthetic import load_lpips, lpips_diversity

    torch.manual_seed(0)
    alex = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet-random-plumbing-only.pth"
    torch.save(alex.state_dict(), path)
    model = load_lpips(path)
    assert torch.equal(model.net.slice1[0].weight, alex.features[0].weight)
    assert torch.equal(getattr(model.net.slice5, "10").weight, alex.features[10].weight)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    same = lpips_diversity(model, np.stack([imgs[0], imgs[0]]))
    assert same == pytest.approx(0.0, abs=1e-7)
    assert lpips_diversity(model, imgs) > 0
    with pytest.raises(InputError, match=r"lpips_backbone: file not found: .*alexnet-owt-7be5be79\.pth"):
        load_lpips(tmp_path / "missing.pth")
    torch.save({"classifier.1.weight": torch.zeros(2, 2)}, tmp_path / "nofeat.pth")
    with pytest.raises(InputError, match="has no 'features.\\*' tensors"):
        load_lpips(tmp_path / "nofeat.pth")


def test_classifier_penultimate_layer_from_a_timm_checkpoint(images, tmp_path):
    """PLUMBING ONLY: a randomly initialised timm resnet18 checkpoint in the audited classifier's place."""
    import timm
    import torch

    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=2)
    ckpt = tmp_path / "classifier-random-plumbing-only.pt"
    torch.save({"arch": "resnet18", "state_dict": net.state_dict()}, ckpt)
    ext = load_extractor("classifier", classifier=ckpt)
    assert ext.dim == 512 and not ext.is_fid and "resnet18" in ext.description
    fs = extract_features(images[:2], ext, progress=False)
    assert ext.input_side == 299  # fairskin audit's default preprocessing size
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB").resize((299, 299), Image.BICUBIC))
                                   for p in images[:2]]))
    net.eval()
    x = (x.permute(0, 3, 1, 2).float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = net.forward_head(net.forward_features(x), pre_logits=True).double()
    # same layer as timm's pre-logits; small differences come from the resize (cv2 vs PIL)
    f = torch.from_numpy(fs.features)
    assert (torch.nn.functional.cosine_similarity(f, ref) > 0.99).all()
    # a TorchScript export of a plain module: the input of its last Linear layer cannot be hooked
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2)))
    torch.jit.save(scripted, tmp_path / "plain.pt")
    with pytest.raises(InputError, match="classifier: cannot reach the penultimate layer of .*plain.pt "
                                         r"\(torchscript\)"):
        load_extractor("classifier", classifier=tmp_path / "plain.pt")
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(InputError, match="classifier: .*bare.pt: a state dict holds weights only; give the "
                                         "architecture with classifier_arch=NAME"):
        load_extractor("classifier", classifier=tmp_path / "bare.pt")


def test_hf_checkpoint_directory_is_loaded_locally(images, tmp_path):
    """PLUMBING ONLY: a tiny randomly initialised ViT saved with save_pretrained stands in for a
    local DINO checkpoint; checks loading, preprocessing size and the [CLS]/pooled output."""
    import torch
    transformers = pytest.importorskip("transformers")

    torch.manual_seed(0)
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                 image_size=32, patch_size=8)
    model = transformers.ViTModel(cfg, add_pooling_layer=False)
    d = tmp_path / "tiny-vit-random-plumbing-only"
    model.save_pretrained(d)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3,
                                   image_std=[0.5] * 3).save_pretrained(d)
    ext = load_extractor("hf", hf_model=d)
    assert (ext.kind, ext.dim, ext.input_side, ext.mean) == ("vit", 32, 32, (0.5, 0.5, 0.5))
    fs = extract_features(images[:3], ext, progress=False)
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.BICUBIC))
                                   for p in images[:3]])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = model(pixel_values=(x - 0.5) / 0.5).last_hidden_state[:, 0].double()
    assert (torch.nn.functional.cosine_similarity(torch.from_numpy(fs.features), ref) > 0.98).all()
    # a checkpoint without its encoder weights would be a random network: refused
    partial = tmp_path / "partial"
    model.save_pretrained(partial)
    from safetensors.torch import load_file, save_file

    full = load_file(partial / "model.safetensors")
    save_file({k: v for k, v in full.items() if "encoder" not in k}, partial / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(InputError, match=r"hf_model: .*partial lacks weights \[.*\(transformers would initialise them randomly\)"):
        load_extractor("hf", hf_model=partial)
    with pytest.raises(InputError, match=r"hf_model: .* is not a local transformers checkpoint directory"):
        load_extractor("hf", hf_model=tmp_path)
