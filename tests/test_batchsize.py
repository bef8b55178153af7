"`bpho find-bs` end to end, and the GPU benchmark's code path on the CPU (bench/gpu.py --device cpu --quick)."
import json, os, subprocess, sys
from pathlib import Path
import pytest
from conftest import bpho, REPO

def test_find_bs_on_a_model_folder_stores_what_notebooks_read(project):
    from bpho_lib.batchsize import batch_size_for, step_peak, parse_bytes
    from bpho_lib.config import get_settings
    from bpho_lib.store import save
    from bpho_lib.unet import ModelConfig, build_model
    cfg = ModelConfig(arch="plain", base=4)
    save(project/"m", build_model(cfg), {"model": {"arch": "plain", "base": 4}})
    r = bpho("find-bs", project/"m", "--tile", "32", "--tile", "64", "--device", "cpu", "--budget", "6MiB", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["tile"] for x in rows] == [32, 64] and rows[0]["batch_size"] > rows[1]["batch_size"] > 0, rows
    budget = parse_bytes("6MiB")
    for x in rows:  # the largest batch that fits, by the same measure
        assert x["peak_bytes"] <= budget < step_peak(cfg, x["tile"], x["batch_size"] + 1), x
    s = get_settings(project=project)
    stored = json.loads((s.root/".bpho/batch_sizes.json").read_text())
    assert len(stored) == 2 and all("git_commit" in e for e in stored.values())
    assert batch_size_for(s, cfg, 32, 1, "cpu") == rows[0]["batch_size"]
    assert batch_size_for(s, cfg, 128, 7, "cpu") == 7
    text = bpho("find-bs", project/"m", "--tile", "32", "--device", "cpu", "--budget", "6MiB", "--no-store", cwd=project).stdout
    assert "TILE  BATCH" in text and f"   32  {rows[0]['batch_size']:>5}" in text and "not stored" in text, text

@pytest.mark.parametrize("args, message", [
    (["--budget", "6MiB"], "{cfg}: unknown keys ['bsae']"),
    (["--budget", "lots"], "--budget: expected bytes"),
    ([], "on the CPU give a memory budget"),
])
def test_find_bs_errors_name_the_problem(project, args, message):
    cfg = project/"cfg.json"
    cfg.write_text('{"arch": "plain", "bsae": 4}' if "unknown" in message else '{"arch": "plain", "base": 4}')
    r = bpho("find-bs", cfg, "--tile", "32", "--device", "cpu", *args, cwd=project)
    assert r.returncode == 1 and message.format(cfg=cfg) in r.stderr, r.stderr
    assert not (project/"data/.bpho/batch_sizes.json").exists()

def test_find_bs_help():
    r = bpho("find-bs", "--help")
    assert r.returncode == 0 and "MODEL_CONFIG" in r.stdout and "batch_size_for" in r.stdout

def test_gpu_bench_code_path_on_cpu(tmp_path):
    "bench/gpu.py --device cpu --quick: find-bs, training through tile_dls/restoration_learner, prediction; the section replaces itself."
    out = tmp_path/"B.md"
    out.write_text("# bpho benchmarks\n\n## Prediction\n\nkept\n\n## GPU\n\nNot measured yet.\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(2):
        r = subprocess.run([sys.executable, str(REPO/"bench/gpu.py"), "--device", "cpu", "--quick", "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    doc = out.read_text()
    assert doc.count("## GPU") == 1 and "## Prediction\n\nkept" in doc and "Not measured yet" not in doc, doc
    assert "## GPU code path, dry run on the CPU" in doc and "CPU stand-in" in doc
    rows = [l.split("|")[1:-1] for l in doc.splitlines() if l.startswith("| 32 ") or l.startswith("| 64 ")]
    assert len(rows) == 2 and all(int(r[1]) > 0 and float(r[3]) > 0 for r in rows), rows
    assert "MPix/s of output" in doc
    r = subprocess.run(["bash", str(REPO/"bench/gpu.sh")], capture_output=True, text=True, env={**env, "CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    assert r.returncode != 0 and "no CUDA device here" in r.stderr
