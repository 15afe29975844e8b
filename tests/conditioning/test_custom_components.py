"""Issue 28 row 10 (and 2): a diffusers folder naming a custom component (code diffusers would
import) is refused with one message naming the component, not a traceback."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")

from fairskin.conditioning._bundle import load_base_pipeline  # noqa: E402
from fairskin.errors import InputError  # noqa: E402


def test_a_custom_component_is_refused_naming_it_and_its_code_never_runs(tmp_path, monkeypatch):
    ran = tmp_path / "ran"
    (tmp_path / "evilmod.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\nclass EvilUNet:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "sd"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                         "unet": ["evilmod", "EvilUNet"],
                                                         "vae": ["diffusers", "AutoencoderKL"]}))
    with pytest.raises(InputError, match=r"component 'unet' is evilmod.EvilUNet, a custom class"):
        load_base_pipeline(folder)
    assert not ran.exists()


def test_a_folder_with_python_files_is_refused(tmp_path):
    folder = tmp_path / "sd"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                         "unet": ["diffusers", "UNet2DConditionModel"]}))
    (folder / "unet" / "my_unet.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(InputError, match=r"holds Python code \(unet/my_unet.py\)"):
        load_base_pipeline(folder)
