"""Issue 28 row 1: a TorchScript or torch.export file is a program; one that reaches outside its
tensors (files, network, processes) or holds pickles is refused without --trust-model, before any
of it runs."""

from __future__ import annotations

import json
import zipfile

import pytest

torch = pytest.importorskip("torch")

from fairskin.audits.models._models import load_model  # noqa: E402
from fairskin.errors import InputError  # noqa: E402


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x.mean((2, 3)))


def _rewrite(src, dst, edit):
    """Copy a zip archive, passing each member's bytes through ``edit(name, data)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))
    return dst


@pytest.fixture()
def scripted(tmp_path):
    path = tmp_path / "good.pt"
    torch.jit.save(torch.jit.script(_Net()), str(path))
    return path


def _evil_forward(scripted, tmp_path, victim):
    """A TorchScript file whose forward maps ``victim`` into memory and overwrites it (the attack of issue 28)."""
    def edit(name, data):
        if "/code/" in name and name.endswith(".py") and b"lin = self.lin" in data:
            text = data.decode()
            text = text.replace("    lin = self.lin\n",
                                f"    lin = self.lin\n    _9 = torch.fill_(torch.from_file(\"{victim}\", True, 2), 66.)\n"
                                "    x = torch.add(x, torch.mul(torch.sum(_9), 0.))\n")
            return text.encode()
        return data
    return _rewrite(scripted, tmp_path / "evil.pt", edit)


def test_a_torchscript_forward_that_writes_a_file_is_refused_and_the_file_is_untouched(scripted, tmp_path):
    victim = tmp_path / "victim.sh"
    victim.write_bytes(b"echo hi\n")
    evil = _evil_forward(scripted, tmp_path, victim)
    # the attack is real: loaded and run as torch would, it rewrites the victim
    torch.jit.load(str(evil))(torch.zeros(1, 3, 4, 4))
    assert victim.read_bytes() != b"echo hi\n"
    victim.write_bytes(b"echo hi\n")
    with pytest.raises(InputError, match=r"from_file.*trust_model=True"):
        load_model(evil)
    assert victim.read_bytes() == b"echo hi\n"


def test_a_torchscript_setstate_that_writes_a_file_is_refused_before_loading(scripted, tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"\0" * 8)

    def edit(name, data):
        if "/code/" in name and name.endswith(".py") and b"lin = self.lin" in data:
            return data.decode().replace(
                "  def forward(", f"  def __setstate__(self, st: Tuple[Tensor]) -> NoneType:\n"
                f"    _0 = torch.save(st, \"{victim}\")\n    return None\n  def forward(").encode()
        return data
    evil = _rewrite(scripted, tmp_path / "evil_state.pt", edit)
    with pytest.raises(InputError, match=r"save.*trust_model=True"):
        load_model(evil)
    assert victim.read_bytes() == b"\0" * 8


def test_torchscript_calling_an_unknown_namespace_is_refused(scripted, tmp_path):
    def edit(name, data):
        if "/code/" in name and name.endswith(".py") and b"lin = self.lin" in data:
            return data.decode().replace("    lin = self.lin\n",
                                         "    lin = self.lin\n    _8 = ops.c10d.barrier()\n").encode()
        return data
    with pytest.raises(InputError, match=r"c10d::barrier.*tensor namespaces"):
        load_model(_rewrite(scripted, tmp_path / "net.pt", edit))


def test_scripted_traced_and_exported_models_of_tensor_ops_still_load(scripted, tmp_path):
    x = torch.rand(1, 3, 4, 4)
    assert load_model(scripted).kind == "torchscript"
    traced = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(_Net(), torch.zeros(1, 3, 4, 4)), str(traced))
    assert load_model(traced).module(x).shape == (1, 2)
    exported = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(_Net(), (torch.zeros(1, 3, 4, 4),)), str(exported))
    lm = load_model(exported)
    assert lm.kind == "export" and lm.module(x).shape == (1, 2)


def test_an_export_archive_with_a_pickled_payload_is_refused(tmp_path):
    exported = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(_Net(), (torch.zeros(1, 3, 4, 4),)), str(exported))

    def edit(name, data):
        if name.endswith("model_weights_config.json"):
            doc = json.loads(data)
            for meta in doc["config"].values():
                meta["use_pickle"] = True
            return json.dumps(doc).encode()
        return data
    with pytest.raises(InputError, match=r"pickled.*trust_model=True"):
        load_model(_rewrite(exported, tmp_path / "evil.pt2", edit))


def test_an_export_graph_calling_from_file_is_refused(tmp_path):
    exported = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(_Net(), (torch.zeros(1, 3, 4, 4),)), str(exported))

    def edit(name, data):
        if name.endswith("models/model.json"):
            return data.replace(b"torch.ops.aten.mean.dim", b"torch.ops.aten.from_file.default")
        return data
    with pytest.raises(InputError, match=r"aten::from_file"):
        load_model(_rewrite(exported, tmp_path / "evil.pt2", edit))


def test_a_damaged_export_archive_is_one_clear_error_without_a_traceback(tmp_path, demo_data, capfd):
    """Issue 28 row 10: torch logged its traceback as warnings before the refusal."""
    from fairskin.cli import main

    exported = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(_Net(), (torch.zeros(1, 3, 4, 4),)), str(exported))
    bad = _rewrite(exported, tmp_path / "bad.pt2",
                   lambda name, data: data[:20] if name.endswith("sample_inputs/model.pt") else data)
    assert main(["audit", str(bad), "--data", str(demo_data), "--n-boot", "5", "-q"]) == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in err + out and 'File "' not in err + out
    assert err.startswith(f"error: {bad}: not a torch.export archive")
    assert "PytorchStreamReader failed reading zip archive" in " ".join(err.split())


def test_an_operator_named_by_a_string_is_refused_too(scripted, tmp_path):
    def edit(name, data):
        if "/code/" in name and name.endswith(".py") and b"lin = self.lin" in data:
            return data.replace(b"    lin = self.lin\n", b"    lin = self.lin\n    _7 = getattr(torch, \"from_file\")\n")
        return data
    with pytest.raises(InputError, match=r"names 'from_file'"):
        load_model(_rewrite(scripted, tmp_path / "net.pt", edit))
