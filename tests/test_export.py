"`export_model` end to end on saved tiny models: a bioimage.io package that reproduces bpho, or nothing at all."
import json
from pathlib import Path
import numpy as np
import pytest
import torch
import yaml
from bpho_lib import export, store
from bpho_lib.config import BphoError
from bpho_lib.cli import main
from bpho_lib.cyclegan import CycleConfig, CycleGAN
from bpho_lib.unet import ModelConfig, build_model

NAME = "plainunet__t__mse__1E"


def _unet(root: Path, dataset: str | None = "t") -> Path:
    "A tiny plain UNet (4x) saved at <root>/models/<name>/, its dataset.json at <root>/datasets/<dataset>/."
    torch.manual_seed(0)
    cfg = ModelConfig(arch="plain", base=8, levels=2, scale=4, upsample="output")
    config = {"model": dict(vars(cfg)), "name": NAME, "normalisation": {"percentiles": [2, 99.8]}}
    if dataset: config["dataset"] = {"name": dataset, "fingerprint": "0" * 16, "sources": []}
    return store.save(root/"models"/NAME, build_model(cfg).eval(), config)

def _leftovers(folder: Path) -> list:
    "Temporary folders an export left behind."
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".partial", ".old")))

def test_unet_package_reproduces_bpho_and_names_its_files(tmp_path):
    m = _unet(tmp_path)
    (tmp_path/"datasets/t").mkdir(parents=True)
    (tmp_path/"datasets/t/dataset.json").write_text(json.dumps({"name": "t", "seed": 0}))
    pkg = export.export_model(m, tmp_path/"out/pkg")
    rdf = yaml.safe_load((pkg/"rdf.yaml").read_text())
    assert rdf["type"] == "model" and rdf["format_version"].startswith("0.5.")
    assert export.named_files(rdf) | {"rdf.yaml"} == {p.name for p in pkg.iterdir()}
    x, y = np.load(pkg/"test_input.npy"), np.load(pkg/"test_output.npy")
    assert x.dtype == y.dtype == np.float32 and x.shape == (1, 1, 64, 64) and y.shape == (1, 1, 256, 256)
    ts = torch.jit.load(str(pkg/rdf["weights"]["torchscript"]["source"]))
    with torch.no_grad(): assert np.abs(ts(torch.from_numpy(x)).numpy() - y).max() <= 1e-4
    assert json.loads((pkg/"dataset.json").read_text())["seed"] == 0
    assert json.loads((pkg/"config.json").read_text())["name"] == NAME
    tiling = rdf["config"]["bpho"]["tiling"]
    assert (tiling["min"], tiling["step"], tiling["halo"]) == (36, 4, 64)
    assert rdf["outputs"][0]["axes"][2]["halo"] == 64 and rdf["inputs"][0]["axes"][2]["size"] == {"min": 36, "step": 4}
    assert rdf["weights"]["torchscript"]["parent"] == "pytorch_state_dict"
    readme = (pkg/"README.md").read_text()
    assert "p2) / (p99.8 - p2)" in readme and "36 + n * 4" in readme and "Validation" in readme
    line = export.export_summary(pkg)
    assert "\n" not in line and str(pkg) in line and NAME in line
    assert _leftovers(tmp_path/"out") == []

def test_state_dict_weights_rebuild_the_network(tmp_path):
    pkg = export.export_model(_unet(tmp_path), tmp_path/"pkg")
    sd = yaml.safe_load((pkg/"rdf.yaml").read_text())["weights"]["pytorch_state_dict"]
    arch = sd["architecture"]
    net = getattr(__import__(arch["import_from"], fromlist=[arch["callable"]]), arch["callable"])(**arch["kwargs"])
    net.load_state_dict(torch.load(pkg/sd["source"], weights_only=True))
    with torch.no_grad(): out = net.eval()(torch.from_numpy(np.load(pkg/"test_input.npy"))).numpy()
    assert np.abs(out - np.load(pkg/"test_output.npy")).max() <= 1e-4

def test_missing_dataset_is_recorded_not_fatal(tmp_path):
    pkg = export.export_model(_unet(tmp_path, dataset="gone"), tmp_path/"pkg")
    rdf = yaml.safe_load((pkg/"rdf.yaml").read_text())
    assert rdf["config"]["bpho"]["dataset_json"].startswith("not found:") and not (pkg/"dataset.json").exists()

def test_existing_package_needs_overwrite(tmp_path):
    m = _unet(tmp_path)
    pkg = export.export_model(m, tmp_path/"pkg")
    with pytest.raises(BphoError, match="already exists"): export.export_model(m, pkg)
    assert export.export_model(m, pkg, overwrite=True, tile=40) == pkg
    assert np.load(pkg/"test_input.npy").shape == (1, 1, 40, 40)
    assert _leftovers(tmp_path) == []

@pytest.mark.parametrize("case", ["empty", "no_weights", "bad_weights", "cyclegan_no_direction", "unet_direction"])
def test_bad_model_folder_writes_nothing(tmp_path, case):
    m = tmp_path/"models/bad"
    m.mkdir(parents=True)
    if case != "empty": (m/"config.json").write_text((_unet(tmp_path/"ok")/"config.json").read_text())
    if case == "bad_weights": (m/"weights.pth").write_bytes(b"not a state dict")
    if case == "cyclegan_no_direction":
        cc = CycleConfig(ngf=4, ndf=4, n_blocks=1, factor=4)
        config = {"learner": "cyclegan", "model": dict(vars(cc)), "name": "c"}
        m = store.save(tmp_path/"models/cyc", CycleGAN(cc).eval(), config)
    want = {"empty": "not a model folder", "no_weights": "no weights.pth", "bad_weights": "not a readable state dict",
            "cyclegan_no_direction": "a CycleGAN model", "unet_direction": "only for CycleGAN"}[case]
    with pytest.raises(BphoError, match=want) as e:
        export.export_model(m, tmp_path/"out/pkg", direction="AB" if case == "unet_direction" else None)
    assert str(m) in str(e.value)
    assert not (tmp_path/"out").exists()

def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    m = _unet(tmp_path)
    def boom(*a, **k): raise RuntimeError("disk full")
    monkeypatch.setattr(export, "write_cover", boom)
    with pytest.raises(RuntimeError, match="disk full"): export.export_model(m, tmp_path/"out/pkg")
    assert list((tmp_path/"out").iterdir()) == []

def test_cyclegan_generators_export_both_ways(tmp_path):
    cc = CycleConfig(ngf=4, ndf=4, n_blocks=1, factor=4)
    config = {"learner": "cyclegan", "model": dict(vars(cc)), "name": "cyc"}
    m = store.save(tmp_path/"models/cyc", CycleGAN(cc).eval(), config)
    for direction, side in (("AB", 16), ("BA", 256)):
        pkg = export.export_model(m, tmp_path/f"pkg_{direction}", direction=direction)
        assert np.load(pkg/"test_output.npy").shape == (1, 1, side, side)
        assert export.verify_package(pkg) <= 1e-4

def test_bioimageio_core_accepts_the_package(tmp_path):
    "Only where bioimageio.core is installed (not part of the pinned stack yet)."
    core = pytest.importorskip("bioimageio.core")
    pkg = export.export_model(_unet(tmp_path), tmp_path/"pkg")
    summary = core.test_model(pkg/"rdf.yaml", weight_format="torchscript")
    assert summary.status == "passed", summary.display() if hasattr(summary, "display") else summary

def test_cli_export_writes_and_refuses(tmp_path, capsys):
    m = _unet(tmp_path)
    assert main(["--root", str(tmp_path), "export", str(m), "-o", str(tmp_path/"pkg")]) == 0
    out = capsys.readouterr().out
    assert "TorchScript reproduces" in out and NAME in out and "36 + n*4" in out
    assert export.verify_package(tmp_path/"pkg") <= 1e-4
    assert main(["--root", str(tmp_path), "export", str(m), "-o", str(tmp_path/"pkg")]) == 1
    assert "already exists (pass --overwrite" in capsys.readouterr().err
