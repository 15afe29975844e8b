"""The estimator against phantoms of known ITA (seeds never used while developing it)."""

import numpy as np
import pytest
from PIL import Image

from fairskin.data import PhantomSpec, render_phantom
from fairskin.data._phantoms import DEMO_DIAGNOSES, sample_ita
from fairskin.label import LabelConfig, estimate_image, estimate_rgb, get_scale, lab_to_srgb


def _random_specs(n, seed, **fixed):
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        fst = int(rng.integers(1, 7))
        derm = rng.random() < 0.6
        kw = dict(ita=sample_ita(fst, rng), diagnosis=str(rng.choice(list(DEMO_DIAGNOSES))),
                  style="dermoscopy" if derm else "clinical", hair=int(rng.integers(5, 25)),
                  glare=int(rng.integers(0, 4)), ruler=bool(rng.random() < 0.15),
                  background=bool(not derm and rng.random() < 0.4), seed=int(rng.integers(2**31)))
        kw.update(fixed)
        specs.append((fst, PhantomSpec(**kw)))
    return specs


def test_accuracy_on_unseen_phantoms_with_hair_lesion_vignette():
    specs = _random_specs(160, seed=20261122)
    err, exact = [], []
    for fst, spec in specs:
        est = estimate_rgb(render_phantom(spec))
        assert est.status == "ok", est.reason
        err.append(est.ita - spec.ita)
        exact.append(est.fst == fst)
    err = np.abs(np.array(err))
    assert np.mean(err <= 3.0) >= 0.95, f"ITA within 3 deg: {np.mean(err <= 3):.3f}"
    assert np.mean(exact) >= 0.90, f"exact FST: {np.mean(exact):.3f}"


def test_flat_colour_of_known_ita():
    for ita in (-40.0, 0.0, 25.0, 48.0, 62.0):
        b = 14.0
        L = 50 + b * np.tan(np.radians(ita))
        rgb = np.broadcast_to(lab_to_srgb(np.array([L, 10.0, b])), (64, 64, 3))
        est = estimate_rgb(rgb)
        assert est.ita == pytest.approx(ita, abs=0.6)
        assert est.fst == get_scale().fst(ita) or abs(est.ita - ita) < 0.6


def test_result_does_not_depend_on_resolution():
    spec = PhantomSpec(ita=33.0, diagnosis="melanoma", size=512, hair=12, glare=2, seed=5)
    big = render_phantom(spec)
    itas = []
    for side in (128, 256, 512, 1024):
        im = np.asarray(Image.fromarray(big).resize((side, side), Image.Resampling.LANCZOS))
        itas.append(estimate_rgb(im).ita)
    assert max(itas) - min(itas) < 0.75, itas


def test_out_of_focus_hair_is_still_excluded():
    """A soft image (out of focus, or a diffusion model's output) smears thin hair into low-contrast
    bands; counted as skin they darken it. A 1-pixel Gaussian blur of 64 px phantoms must move ITA
    by at most 3 deg for 60% of them and by at most 8 deg for 90% (the hair detector's earlier
    settings, a 0.035 kernel and 7 L* contrast, gave 50% and 26 deg here)."""
    from PIL import ImageFilter

    shifts = []
    for _, spec in _random_specs(80, seed=20261201, size=64):
        sharp = render_phantom(spec)
        soft = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(1)))
        shifts.append(estimate_rgb(soft).ita - estimate_rgb(sharp).ita)
    shifts = np.abs(np.array(shifts))
    assert np.mean(shifts <= 3.0) >= 0.60, np.round(np.sort(shifts)[-10:], 1)
    assert np.percentile(shifts, 90) <= 8.0, np.round(np.sort(shifts)[-10:], 1)


def test_soft_borders_do_not_darken_dark_skin():
    """A soft photograph (out of focus, or a diffusion model's output) blurs the dermoscope's rim and
    the lesion border into the skin; those pixels pass every colour test but are darker, and on type
    IV-VI skin one L* unit is about 3 deg of ITA. Dermoscopy phantoms of types IV-VI at 64 px with
    a 1-pixel Gaussian blur: ITA from the mask's core reads them 1.0 deg dark on average and within
    3 deg for 97% (the full mask: 2.3 deg dark, 73%; at a 1.5-pixel blur 2.5 and 4.0 deg dark)."""
    from PIL import ImageFilter

    rng = np.random.default_rng(20261202)
    err, err_full = [], []
    for _ in range(60):
        fst = int(rng.integers(4, 7))
        spec = PhantomSpec(ita=sample_ita(fst, rng), diagnosis=str(rng.choice(list(DEMO_DIAGNOSES))),
                           style="dermoscopy", hair=int(rng.integers(0, 10)), glare=int(rng.integers(0, 3)), size=64,
                           seed=int(rng.integers(2**31)))
        soft = np.asarray(Image.fromarray(render_phantom(spec)).filter(ImageFilter.GaussianBlur(1)))
        err.append(estimate_rgb(soft).ita - spec.ita)
        err_full.append(estimate_rgb(soft, config=LabelConfig(core_distance=0.0)).ita - spec.ita)
    err, err_full = np.array(err), np.array(err_full)
    assert abs(err.mean()) <= 1.5, (err.mean(), err_full.mean())
    assert np.mean(np.abs(err) <= 3.0) >= 0.9, np.round(np.sort(err), 1)
    assert err_full.mean() < err.mean() - 1.0  # what the core is for


def test_skin_core_keeps_the_skin_away_from_exclusions():
    from fairskin.label._estimate import _skin_core

    skin = np.ones((100, 100), bool)
    skin[40:60, 40:60] = False  # an excluded lesion
    core = _skin_core(skin, 4.5)  # OpenCV's 3x3 distance: 4.77 at 5 px straight up, 3.82 at 4 px
    assert not core[36:64, 50].any()  # the lesion and the 4 px around it, on a line through it
    assert core[35, 50] and core[64, 50]  # 5 px away
    assert core[:30].all() and core[:, 70:].all()  # the image's own edge does not count
    # little skin far from everything: the farthest quarter of it is kept instead
    thin = np.zeros((100, 100), bool)
    thin[10:16, :] = True
    kept = _skin_core(thin, 20.0)
    assert 0.25 <= kept.sum() / thin.sum() < 0.7 and kept[12:14].all()
    assert _skin_core(skin, 0.0) is skin


def test_too_little_skin_leaves_type_empty_with_reason():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[...] = (30, 60, 200)  # blue cloth
    rgb[45:55, 45:55] = (200, 150, 130)
    est = estimate_rgb(rgb)
    assert est.fst is None and est.status == "no_skin"
    assert est.reason == ("only 0.4% of the image is healthy skin (minimum 4%); "
                          "most excluded as non-skin (99%)")


def test_user_lesion_mask_is_excluded():
    # a large low-contrast lesion the automatic segmentation would keep: the mask removes it
    rgb = np.broadcast_to(lab_to_srgb(np.array([65.0, 10.0, 15.0])), (128, 128, 3)).copy()
    lesion = np.zeros((128, 128), bool)
    lesion[:, :48] = True
    rgb[lesion] = lab_to_srgb(np.array([57.0, 12.0, 17.0]))
    with_mask = estimate_rgb(rgb, lesion_mask=lesion)
    assert with_mask.L == pytest.approx(65.0, abs=0.3)


def test_confidence_is_half_at_a_cut_and_high_in_the_middle():
    s = get_scale()
    b = 14.0
    def at(ita):
        L = 50 + b * np.tan(np.radians(ita))
        return estimate_rgb(np.broadcast_to(lab_to_srgb(np.array([L, 10.0, b])), (96, 96, 3)))
    mid = at(34.5)  # middle of type III (28, 41]
    edge = at(s.cuts[2] + 0.05)
    assert mid.confidence > 0.9
    assert 0.4 < edge.confidence < 0.6


def test_estimate_image_reports_unreadable(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(b"")
    est = estimate_image(p)
    assert (est.status, est.reason) == ("unreadable", "file is empty (0 bytes)")
