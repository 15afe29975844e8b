"""Tone requests: what each type asks for and the FST embedding's tone input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fairskin.conditioning import Conditioning, TrainConfig, train_conditioning  # noqa: E402
from fairskin.conditioning._tone import draw_request, request_table  # noqa: E402
from fairskin.errors import InputError  # noqa: E402
from fairskin.label import get_scale  # noqa: E402


def test_request_table_stays_in_each_band():
    scale = get_scale("kinyanjui_fst")
    rng = np.random.default_rng(0)
    ita = np.concatenate([rng.uniform(5, 24, 200), [np.nan] * 3, rng.uniform(-40, 12, 50), [30.0, 31.0]])
    fst = np.array([5] * 203 + [6] * 50 + [4, 4])
    table = request_table(ita, fst, scale)
    v = np.array(table["5"])
    assert len(v) == 101 and np.all(np.diff(v) >= 0)
    assert 10 < v[0] < 11 and 18 < v[-1] <= 19  # type V's own tones, those outside 10-19 left out
    assert table["6"][-1] <= 10  # type VI: measured tones above 10 left out
    # a type with fewer than five in-band tones (IV here: two, both outside 19-28) asks uniformly over its band
    assert table["4"][0] == 19.0 and table["4"][-1] == 28.0 and table["4"][50] == pytest.approx(23.5)
    assert table["1"] == pytest.approx(list(np.linspace(55, 70, 101)), abs=1e-3)  # no images: open end clipped


def test_draw_request_is_fixed_by_the_seed():
    table = list(np.linspace(10, 19, 101))
    draws = [draw_request(table, s) for s in range(400)]
    assert draws[:5] == [draw_request(table, s) for s in range(5)]
    assert 10 <= min(draws) and max(draws) <= 19
    assert np.std(draws) == pytest.approx(9 / np.sqrt(12), rel=0.15)  # uniform over the table


def test_tone_request_reaches_the_extra_token(tiny_conditioning):
    from diffusers import StableDiffusionPipeline

    cond = Conditioning.load(tiny_conditioning)
    tone = cond.config["tone"]
    assert sorted(tone["requests"]) == [str(k) for k in range(1, 7)]
    assert cond.fst_embedding.tone is not None
    asked = cond.tone_request(5, 123)
    assert asked == cond.tone_request(5, 123) and 10 <= asked <= 19
    assert cond.tone_request(None, 123) is None
    with torch.no_grad():  # a trained tone network (forced non-zero here) moves the extra token
        cond.fst_embedding.tone[2].bias.fill_(0.5)
    pipe = cond.attach(StableDiffusionPipeline.from_pretrained(cond.base_model))
    plain, _ = cond.encode(pipe, ["a photo"] * 2, [5, 5], negative_prompt="", guidance=1.0)
    toned, _ = cond.encode(pipe, ["a photo"] * 2, [5, 5], negative_prompt="", guidance=1.0, ita=[asked, None])
    assert torch.allclose(plain[0, -1], cond.fst_embedding.embedding.weight[4])
    assert not torch.allclose(toned[0, -1], plain[0, -1])
    assert torch.allclose(toned[1, -1], plain[1, -1])  # no request: the type's vector alone


def test_tone_network_is_saved_and_loaded(tiny_conditioning, tmp_path):
    cond = Conditioning.load(tiny_conditioning)
    with torch.no_grad():
        cond.fst_embedding.tone[2].bias.fill_(0.25)
    cond.save(tmp_path)
    again = Conditioning.load(tmp_path)
    x = torch.zeros(1, 3, cond.fst_embedding.embedding.weight.shape[1])
    ita = torch.tensor([14.0])
    assert torch.allclose(again.fst_embedding(x, torch.tensor([4]), ita), cond.fst_embedding(x, torch.tensor([4]), ita))


def test_tone_frequencies_are_recorded_and_older_files_keep_theirs(tiny_conditioning, tmp_path):
    """conditioning.json records the tone network's feature frequencies; a file written before they
    were recorded is read with the ones it was trained with (1, 2, 4), not today's defaults."""
    import json

    from fairskin.conditioning._tone import LEGACY_TONE_FREQUENCIES, TONE_FREQUENCIES, tone_features

    cond = Conditioning.load(tiny_conditioning)
    assert cond.config["fst_embedding"]["tone_frequencies"] == list(TONE_FREQUENCIES)
    assert TONE_FREQUENCIES != LEGACY_TONE_FREQUENCIES
    with torch.no_grad():
        cond.fst_embedding.tone[2].weight.normal_(0, 0.5)
    cond.save(tmp_path)
    cfg = json.loads((tmp_path / "conditioning.json").read_text())
    del cfg["fst_embedding"]["tone_frequencies"]
    (tmp_path / "conditioning.json").write_text(json.dumps(cfg))
    old = Conditioning.load(tmp_path)
    assert old.fst_embedding.tone_frequencies == LEGACY_TONE_FREQUENCIES
    x, k, ita = torch.zeros(1, 3, cond.fst_embedding.embedding.weight.shape[1]), torch.tensor([4]), torch.tensor([14.0])
    with torch.no_grad():
        want = cond.fst_embedding.embedding.weight[4] + old.fst_embedding.tone(tone_features(ita, LEGACY_TONE_FREQUENCIES))[0]
        assert torch.allclose(old.fst_embedding(x, k, ita)[0, -1], want)
        assert not torch.allclose(old.fst_embedding(x, k, ita), cond.fst_embedding(x, k, ita))
    old.save(tmp_path / "again")  # saved again, the file now says which frequencies it holds
    again = json.loads((tmp_path / "again" / "conditioning.json").read_text())
    assert again["fst_embedding"]["tone_frequencies"] == list(LEGACY_TONE_FREQUENCIES)


def test_resume_needs_the_same_tone_setting(small_demo, small_labels, tmp_path):
    cfg = TrainConfig(steps=2, vae_steps=2, batch_size=4, checkpoint_every=1)
    train_conditioning(small_demo, out=tmp_path, labels=small_labels, config=cfg)
    without = TrainConfig(steps=2, vae_steps=2, batch_size=4, tone=False)
    with pytest.raises(InputError, match="written with tone requests; resume with them"):
        train_conditioning(small_demo, out=tmp_path, labels=small_labels, config=without, resume="latest")


def test_resume_keeps_the_checkpoints_tone_frequencies(small_demo, small_labels, tmp_path):
    """A checkpoint written before the frequencies were recorded resumes with the ones it was
    trained with, and the finished conditioning says so."""
    import json

    from fairskin.conditioning._tone import LEGACY_TONE_FREQUENCIES

    cfg = TrainConfig(steps=2, vae_steps=2, batch_size=4, checkpoint_every=1)
    train_conditioning(small_demo, out=tmp_path, labels=small_labels, config=cfg)  # checkpoint at step 1
    (ckpt,) = [p for p in (tmp_path / "checkpoints").glob("step-*")]
    state = torch.load(ckpt / "state.pt", weights_only=True)
    del state["tone_frequencies"]
    torch.save(state, ckpt / "state.pt")
    train_conditioning(small_demo, out=tmp_path, labels=small_labels, resume="latest",
                       config=cfg)
    saved = json.loads((tmp_path / "conditioning.json").read_text())
    assert saved["fst_embedding"]["tone_frequencies"] == list(LEGACY_TONE_FREQUENCIES)
    assert saved["train"]["steps_done"] == 2
