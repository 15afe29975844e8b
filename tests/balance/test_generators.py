"""The generation seam: the registry, a user's module:Class in fairskin balance, one provenance
schema for every backend, and the gate reading types with the labels' ITA scale."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest

from fairskin.balance import PROVENANCE_COLUMNS, GenerateConfig, Slot, balance, generate_gated
from fairskin.conditioning import GenerationRequest, create_generator, generator_entry, generator_names, labels_scale
from fairskin.errors import InputError

#: a user's generator: every image one skin colour at ITA ~0, i.e. type V on groh_fst, VI on the default scale
USER_MODULE = textwrap.dedent('''
    import numpy as np
    from fairskin.skintone import lab_to_srgb

    class Uniform:
        name = "uniform-ita0"

        def generate(self, requests, seeds, *, root):
            rgb = np.round(np.asarray(lab_to_srgb(np.array([50.0, 12.0, 15.0]))) * 255).astype(np.uint8)
            return [np.broadcast_to(rgb, (32, 32, 3)).copy() for _ in requests]

    class Nameless:
        def generate(self, requests, seeds, *, root):
            return []
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch, request):
    name = f"usergen_{request.node.name[:20].replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_registry_names_the_builtins_and_suggests_the_closest():
    assert {"stable-diffusion", "ddpm", "phantom"} <= set(generator_names())
    with pytest.raises(InputError) as e:
        generator_entry("dpm")
    assert "unknown generator 'dpm'" in str(e.value) and "Did you mean 'ddpm'?" in str(e.value)


def test_a_user_class_is_checked_when_named(user_module):
    with pytest.raises(InputError, match=re.escape("cannot import module 'no_such_module_xyz'")):
        generator_entry("no_such_module_xyz:Gen")
    with pytest.raises(InputError, match=re.escape(f"module '{user_module}' has no 'Missing'")):
        generator_entry(f"{user_module}:Missing")
    with pytest.raises(InputError, match=re.escape("Nameless has no name; a generator needs a name and generate(")):
        create_generator(f"{user_module}:Nameless")
    gen = create_generator(f"{user_module}:Uniform")
    assert gen.name == "uniform-ita0" and gen.registry_name == f"{user_module}:Uniform"


def test_a_user_generator_reaches_fairskin_balance(user_module, small_demo, small_labels, tmp_path):
    from fairskin.cli import main

    out = tmp_path / "out"
    assert main(["balance", str(small_demo), "--out", str(out), "--labels", str(small_labels), "--target",
                 "fst56=0.5", "--generator", f"{user_module}:Uniform", "--tolerance", "6", "--max-attempts", "1",
                 "--json", str(tmp_path / "s.json")]) == 0
    m = pd.read_csv(out / "manifest.csv")
    syn = m[m["synthetic"]]
    plan = pd.read_csv(out / "plan.csv")
    assert len(syn) == int(plan["generate"].sum()) > 0
    assert (syn["generator"] == f"{user_module}:Uniform").all() and (syn["base_model"] == "uniform-ita0").all()
    assert (syn["fst_measured"] == 6).all()  # ITA 0 on the default scale
    import json

    assert json.loads((tmp_path / "s.json").read_text())["generator"]["name"] == f"{user_module}:Uniform"


def test_the_gate_reads_types_with_the_scale_the_labels_were_written_with(user_module, small_demo, tmp_path):
    from fairskin.label import label_dataset

    labels = tmp_path / "labels.csv"
    label_dataset(small_demo, out=labels, scale="groh_fst", progress=False, n_boot=0)
    assert labels_scale(labels).name == "groh_fst"
    strict = GenerateConfig(tolerance=0, max_attempts=1)
    res = balance(small_demo, out=tmp_path / "out", labels=labels, target="fst56=0.5", generate=strict, max_per_real=10,
                  generator=f"{user_module}:Uniform")
    att = pd.concat([pd.read_csv(p) for p in (tmp_path / "out").glob("attempts-*.csv")])
    assert res.summary["scale"]["name"] == "groh_fst"
    # ITA ~0 is type V on groh_fst (and VI on the default scale): V requests pass, VI requests fail
    assert set(att["fst_measured"]) == {5}
    assert (att.loc[att["fst_requested"] == 5, "gate"] == "accepted").all()
    assert (att.loc[att["fst_requested"] == 6, "gate"] == "rejected").all()
    assert (att["fst_requested"] == 6).any() and (att["fst_requested"] == 5).any()


def test_labels_scale_finds_a_calibrated_scale_and_refuses_what_it_cannot_know(tmp_path):
    from fairskin.skintone import get_scale

    own = get_scale("groh_fst")
    from dataclasses import replace

    calibrated = replace(own, name="calibrated_labels")
    calibrated.save(tmp_path / "labels_scale.csv")
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["a.png", "b.png"], "fst": [5, 6], "scale": ["calibrated_labels"] * 2}).to_csv(labels,
                                                                                                       index=False)
    assert labels_scale(labels) == calibrated
    assert labels_scale(None).name == get_scale().name
    with pytest.raises(InputError, match=re.escape("is scale 'chardon', but")):
        labels_scale(labels, scale="chardon")
    other = tmp_path / "other" / "labels.csv"
    other.parent.mkdir()
    pd.DataFrame({"image": ["a.png"], "fst": [5], "scale": ["mine"]}).to_csv(other, index=False)
    with pytest.raises(InputError, match=re.escape("labelled with the ITA scale 'mine', which is not built in")):
        labels_scale(other)
    pd.DataFrame({"image": ["a.png", "b.png"], "fst": [5, 6], "scale": ["chardon", "groh_fst"]}).to_csv(other,
                                                                                                        index=False)
    with pytest.raises(InputError, match=re.escape("different ITA scales (chardon, groh_fst)")):
        labels_scale(other)


def _one_attempt(gen, fst=5, diagnosis="melanoma"):
    got = []
    generate_gated([Slot("s-0", GenerationRequest(fst=fst, diagnosis=diagnosis, malignant=True))], generator=gen,
                   root=None, config=GenerateConfig(tolerance=6, max_attempts=1, steps=2), on_attempt=got.append)
    return got[0]


def test_provenance_has_one_schema_for_every_backend(user_module, tiny_ddpm, tiny_conditioning):
    import json

    from fairskin.conditioning import PhantomGenerator, SamplingConfig

    dx = json.loads((tiny_ddpm / "ddpm.json").read_text())["diagnoses"][0]
    sampling = SamplingConfig(steps=2, batch_size=1)
    gens = {"phantom": PhantomGenerator(size=48),
            "ddpm": create_generator("ddpm", tiny_ddpm, sampling=sampling, device="cpu"),
            "stable-diffusion": create_generator("stable-diffusion", tiny_conditioning, sampling=sampling,
                                                 device="cpu"),
            f"{user_module}:Uniform": create_generator(f"{user_module}:Uniform")}
    for label, gen in gens.items():
        rec = _one_attempt(gen, diagnosis=dx)
        assert list(rec.provenance) == PROVENANCE_COLUMNS, label
        assert rec.provenance["generator"] == label and rec.provenance["fst_requested"] == 5
        assert rec.provenance["attempt"] == 1 and rec.provenance["seed"] == rec.seed
        assert rec.provenance["gate"] in ("accepted", "rejected") and rec.provenance["ita_measured"] != ""
    assert _one_attempt(gens["phantom"]).provenance["ita_requested"] != ""  # the phantom records its tone
    assert _one_attempt(gens[f"{user_module}:Uniform"]).provenance["ita_requested"] == ""


def test_balance_with_the_ddpm_trains_it_into_out(small_demo, small_labels, tmp_path):
    from fairskin.conditioning import DdpmTrainConfig
    from fairskin.data import MANIFEST_COLUMNS, SYNTHETIC_COLUMNS

    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", generator="ddpm",
                  train_config=DdpmTrainConfig(resolution=16, channels=(16, 32), steps=1, batch_size=4),
                  generate=GenerateConfig(steps=2, tolerance=6, max_attempts=1, batch_size=8))
    assert (tmp_path / "ddpm" / "ddpm.json").is_file()
    m = pd.read_csv(res.manifest)
    assert list(m.columns)[:len(MANIFEST_COLUMNS) + len(SYNTHETIC_COLUMNS)] == \
        list(MANIFEST_COLUMNS) + list(SYNTHETIC_COLUMNS)
    syn = m[m["synthetic"]]
    assert (syn["generator"] == "ddpm").all() and (syn["scheduler"] == "DDPMScheduler").all()
    assert res.summary["generator"]["name"] == "ddpm" and res.summary["generator"]["steps"] == 2
    with pytest.raises(InputError, match=re.escape("conditioning: belongs to the stable-diffusion generator")):
        balance(small_demo, out=tmp_path / "x", labels=small_labels, target="fst56=0.5", generator="ddpm",
                conditioning=tmp_path)
