"Faults as they were found (issue: fault tolerance): real signals on real commands, asserting what is left behind."
import os, signal, subprocess, sys, time
from pathlib import Path
from conftest import REPO, link_sources

def _children(pid: int) -> list[int]:
    "PIDs of the direct children of `pid` (from /proc)."
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try: stat = (p/"stat").read_text()
            except OSError: continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid: out.append(int(p.name))
    return out

def _alive(pid: int) -> bool:
    try: stat = (Path("/proc")/str(pid)/"stat").read_text()
    except OSError: return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited

def test_sigterm_on_a_parallel_build_keeps_nothing_and_stops_its_workers(sampled, tmp_path):
    "SIGTERM to `paired_001.py --workers 2` mid-build: the message of Ctrl-C, no partial folder, no worker left."
    d, _ = sampled
    root = tmp_path/"root"
    link_sources(d, root, "sample_pairs_mito")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPHO_")}
    proc = subprocess.Popen([sys.executable, str(REPO/"scripts/dataset/paired_001.py"), "--source", "sample_pairs_mito",
                             "--workers", "2", "--root", str(root)], cwd=d, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    datasets = root/"datasets"
    t0 = time.time()
    while not list(datasets.glob(".*.partial")) and time.time() - t0 < 120 and proc.poll() is None: time.sleep(0.2)
    assert list(datasets.glob(".*.partial")), "the build never started writing"
    time.sleep(2)  # the workers are busy with items
    workers = _children(proc.pid)
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)  # orphaned workers would hold the pipes open: a timeout
        assert proc.returncode == 130, err[-2000:]
        assert "paired_001: interrupted; nothing was kept" in err
        assert sorted(p.name for p in datasets.iterdir()) == [], "a killed build left something behind"
        t1 = time.time()
        while any(_alive(w) for w in workers) and time.time() - t1 < 30: time.sleep(0.2)
        assert workers and not any(_alive(w) for w in workers), "worker processes outlived the build"
    finally:  # never leave a failed case's processes running
        for pid in [proc.pid, *workers]:
            if _alive(pid): os.kill(pid, signal.SIGKILL)
