"Faults as they were found (issue: fault tolerance): real signals on real commands, asserting what is left behind."
import json, os, signal, subprocess, sys, time
from pathlib import Path
from conftest import BPHO, REPO, bpho, link_sources, script

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

# ---- locks and killed runs -------------------------------------------------------------------------------------------

def test_a_killed_build_is_cleared_by_the_next_and_a_concurrent_one_is_refused(sampled, tmp_path):
    """A second build of a dataset being built stops at once, naming the first; SIGKILL takes the workers along; the
    next build removes what was left and says so in one line."""
    d, _ = sampled
    root = tmp_path/"root"
    link_sources(d, root, "sample_pairs_mito")
    proc = subprocess.Popen([sys.executable, str(REPO/"scripts/dataset/paired_001.py"), "--source", "sample_pairs_mito",
                             "--workers", "2", "--root", str(root)], cwd=d, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    datasets = root/"datasets"
    _wait(lambda: list(datasets.glob("*.partial")) or proc.poll() is not None)
    assert list(datasets.glob("*.partial")), "the build never started writing"
    time.sleep(1)
    workers = _children(proc.pid)
    try:
        r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "1", "--root", root, cwd=d)
        assert r.returncode == 1, r.stderr[-2000:]
        assert f"a build of paired_001 is already running in process {proc.pid} (paired_001.py" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and proc.poll() is None  # refused while the first still runs
        proc.kill()  # SIGKILL: no handler of the build runs
        proc.wait(timeout=60)
        _wait(lambda: not any(_alive(w) for w in workers), 30)
        assert workers and not any(_alive(w) for w in workers), "worker processes outlived a killed build"
        left = sorted(p.name for p in datasets.iterdir())
        assert ".paired_001.lock" in left and any(n.endswith(".partial") for n in left), left
        r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "2", "--root", root, cwd=d)
        assert r.returncode == 0, r.stderr[-2000:]
        said = [l for l in r.stdout.splitlines() if "killed run" in l]
        assert len(said) == 1, said
        assert said[0].startswith(f"paired_001: removed what a killed run, process {proc.pid} (paired_001.py "), said
        assert ".partial" in said[0] and " MB)" in said[0], said
        assert sorted(p.name for p in datasets.iterdir()) == ["paired_001"]
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid): os.kill(pid, signal.SIGKILL)

def test_a_second_run_on_a_held_target_stops_at_once_naming_the_holder(sampled, tmp_path):
    "A build of synth_001 from another source, an experiment and a prediction, each while another process holds it."
    from bpho_lib.config import target_lock
    d, _ = sampled
    root = tmp_path/"root"
    link_sources(d, root, "sample_pairs_mito")
    me = f"is already running in process {os.getpid()} ("
    with target_lock(root/"datasets/.synth_001.lock", root/"datasets/synth_001", "a build of synth_001"):
        r = script("synth_001", "--source", "sample_pairs_mito", "--root", root, cwd=d)
        assert r.returncode == 1 and f"a build of synth_001 {me}" in r.stderr, r.stderr
    assert not (root/"datasets/synth_001").exists()
    with target_lock(root/"models/.101_paired_001_unet.lock", root/"models/101_paired_001_unet", "experiment"):
        r = bpho("--root", root, "experiment", REPO/"nbs/101_paired_001_unet.ipynb", "--smoke", cwd=d)
        assert r.returncode == 1 and f"experiment 101_paired_001_unet {me}" in r.stderr, r.stderr
    model, img = _model(tmp_path/"model"), _image(tmp_path/"in.tif")
    with target_lock(tmp_path/".out.predict.lock", tmp_path/"out", "a prediction"):
        r = bpho("predict", model, img, "-o", tmp_path/"out", cwd=tmp_path)
        assert r.returncode == 1 and f"a prediction into this folder {me}" in r.stderr, r.stderr
    assert not (tmp_path/"out").exists()
    r = bpho("predict", model, img, "-o", tmp_path/"out", cwd=tmp_path)  # released: it goes through
    assert r.returncode == 0 and (tmp_path/"out/in.ome.tif").is_file(), r.stderr
    assert sorted(p.name for p in tmp_path.glob(".*lock")) == []

# ---- disk, memory and bad values -------------------------------------------------------------------------------------

def _limit_files(nbytes: int):
    "For preexec_fn: a file-size limit, as `ulimit -f` sets it (Python ignores SIGXFSZ, so writes fail with EFBIG)."
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

def test_a_file_size_limit_in_a_parallel_build_is_one_line_and_nothing_is_kept(sampled, tmp_path):
    d, _ = sampled
    root = tmp_path/"root"
    link_sources(d, root, "sample_pairs_mito")
    r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "2", "--root", root, cwd=d,
               preexec_fn=_limit_files(32 << 10))
    assert r.returncode == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    line = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(line) == 1 and line[0].startswith("paired_001: error: "), r.stderr[-3000:]
    assert "the file-size limit (ulimit -f) of 32 KB was reached; nothing was kept" in line[0], line
    assert str(root/"datasets") in line[0], line  # the folder that was being written
    assert sorted(p.name for p in (root/"datasets").iterdir()) == []

def test_prediction_faults_are_one_line_and_leave_no_output_folder(tmp_path):
    """A file-size limit, a header claiming 10^12 pixels, NaN input and bad config.json values: rc 1, the file and
    the cause named, no traceback, no output folder."""
    model, img = _model(tmp_path/"model"), _image(tmp_path/"in.tif")
    out = tmp_path/"out"
    def check(r, *say):
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert r.stderr.startswith("bpho: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        for s in say: assert s in r.stderr, (s, r.stderr)
        assert not out.exists(), sorted(out.iterdir())
    r = subprocess.run([str(BPHO), "predict", str(model), str(img), "-o", str(out)], capture_output=True, text=True,
                       preexec_fn=_limit_files(64 << 10), env=_env(), timeout=600)
    check(r, f"{out/'in.ome.tif'}: writing failed: ", "the file-size limit (ulimit -f) of 64 KB was reached")
    import tifffile
    import numpy as np
    huge = tmp_path/"huge.tif"  # an 8 KB file whose header claims 10^6 x 10^6 pixels in one strip
    tifffile.imwrite(huge, np.zeros((64, 64), np.uint16), rowsperstrip=64, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(huge, mode="r+b") as tf:
        for tag in ("ImageWidth", "ImageLength", "RowsPerStrip"): tf.pages[0].tags[tag].overwrite(1_000_000)
    check(bpho("predict", model, huge, "-o", out), f"{huge}: predicting this 1000000x1000000 image needs", "of memory")
    nan = _image(tmp_path/"nan.tif", nan=100)
    check(bpho("predict", model, nan, "-o", out), f"{nan}: 100 NaN or Inf pixels of 4096")
    cfg = json.loads((model/"config.json").read_text())
    for key, value, say in [("levels", "two", "levels"), ("scale", 0, "scale"), ("scale", -4, "scale")]:
        (model/"config.json").write_text(json.dumps({**cfg, "model": {**cfg["model"], key: value}}))
        check(bpho("predict", model, img, "-o", out), say, "config.json")

def _in_small_tmpfs(folder: Path, size: str, cmd: list):
    """Run `cmd` with a tmpfs of `size` mounted on `folder`, in a private mount namespace (the mount ends with it);
    returns (CompletedProcess, what was left in `folder`), or None where unshare may not mount."""
    import shutil
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        return None
    sh = ('mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99; d="$2"; shift 2; '
          '"$@"; rc=$?; echo "LEFT:$(ls -A "$d")"; exit $rc')
    r = subprocess.run(["unshare", "-rm", "sh", "-c", sh, "sh", size, str(folder), *map(str, cmd)], capture_output=True,
                       text=True, env=_env(), timeout=900)
    assert r.returncode != 99, r.stderr
    left = [l for l in r.stdout.splitlines() if l.startswith("LEFT:")][-1][5:].split()
    return r, left

def test_a_full_disk_is_one_line_and_nothing_is_kept(sampled, tmp_path):
    "A build and a prediction onto a small tmpfs: the path and 'the disk is full', no traceback, nothing left there."
    import pytest
    d, _ = sampled
    root = tmp_path/"root"
    link_sources(d, root, "sample_pairs_mito")
    (root/"datasets").mkdir()
    got = _in_small_tmpfs(root/"datasets", "1m", [sys.executable, REPO/"scripts/dataset/paired_001.py", "--source",
                                                 "sample_pairs_mito", "--workers", "2", "--root", root])
    if got is None: pytest.skip("this machine does not let unshare mount a tmpfs (no user namespaces)")
    r, left = got
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    line = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(line) == 1 and str(root/"datasets") in line[0], r.stderr[-3000:]
    assert "failed: the disk is full (" in line[0] and line[0].endswith("; nothing was kept"), line
    assert left == [], left
    model, img = _model(tmp_path/"model"), _image(tmp_path/"in.tif")  # its 256 x 256 float32 output: 256 KB
    (tmp_path/"small").mkdir()
    # room for the pixels by the pre-check's count (256 KB) but not for the lock and the TIFF's header: the write fails.
    # Where that falls depends on the page size and what a new tmpfs uses, so a few sizes a page apart are tried: each
    # ends in one of the two clean ways, and the write fails in at least one.
    page, failed_writing = os.sysconf("SC_PAGE_SIZE"), []
    for k in range(4):
        r, left = _in_small_tmpfs(tmp_path/"small", str((256 << 10) + k * page),
                                  [BPHO, "predict", model, img, "-o", tmp_path/"small/out"])
        if r.returncode == 0: break  # it all fit
        assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert left == [], left
        if "writing failed" in r.stderr:
            dest = tmp_path/"small/out/in.ome.tif"
            assert r.stderr.startswith(f"bpho: error: {dest}: writing failed: the disk is full ("), r.stderr
            failed_writing.append(k)
        else: assert "needs 256 KB of disk, more than the" in r.stderr, r.stderr
    assert failed_writing, "no size made the write itself fail"
    # too small for the output by its own count: refused before any output exists
    r, left = _in_small_tmpfs(tmp_path/"small", "128k", [BPHO, "predict", model, img, "-o", tmp_path/"small/out"])
    assert r.returncode == 1 and "needs 256 KB of disk, more than the 128 KB free there" in r.stderr, r.stderr
    assert left == [], left

# ---- sources ---------------------------------------------------------------------------------------------------------

def test_source_faults_are_named_and_freeze_stays_inside_the_source(project, tmp_path):
    "A symlink loop, a path climbing out of the root, links to files elsewhere, a byte flipped under a restored mtime."
    src = project/"data/datasources/em_new"
    src.mkdir(parents=True)
    _image(src/"a.tif")
    outside = tmp_path/"elsewhere.tif"
    _image(outside)
    (src/"b.tif").symlink_to(outside)
    (src/"loop.tif").symlink_to(src/"loop.tif")
    manifest = (project/"datasources.toml").read_bytes()
    r = bpho("datasources", "add", "em_new", src, "--kind", "single", "--pixel-size", "0.01", cwd=project)
    assert r.returncode == 1 and "loop.tif: a loop of symbolic links in the source" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and (project/"datasources.toml").read_bytes() == manifest
    (src/"loop.tif").unlink()
    outside_mode = outside.stat().st_mode
    r = bpho("datasources", "add", "em_new", src, "--kind", "single", "--pixel-size", "0.01", cwd=project)
    assert r.returncode == 0, r.stderr
    assert outside.stat().st_mode == outside_mode, "freeze changed permissions outside the source's folder"
    assert not (src/"a.tif").stat().st_mode & 0o222  # inside: read-only, as before
    # a byte flipped and the mtime put back (touch -r): the quick check sees the inode change time
    f = src/"a.tif"
    st = f.stat()
    f.chmod(0o644)
    raw = bytearray(f.read_bytes())
    raw[-3] ^= 0x01
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    r = bpho("datasources", "verify", "em_new", cwd=project)
    assert r.returncode == 1 and f"changed: {f}: expected sha256" in r.stdout, r.stdout
    # a declared path that climbs out of the root is refused before anything is touched
    with open(project/"datasources.toml", "a") as m:
        m.write('\n[etc_files]\nkind = "single"\npath = "../../../../etc"\ndescription = "d"\norigin = "o"\n'
                'pixel_size_um = { xy = 0.1 }\nlayout = { images = "." }\n')
    r = bpho("datasources", "freeze", "etc_files", cwd=project)
    assert r.returncode == 1 and "path '../../../../etc' climbs out of the data root with '..'" in r.stderr, r.stderr

# ---- helpers ---------------------------------------------------------------------------------------------------------

def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("BPHO_")}

def _wait(cond, timeout: float = 120):
    t0 = time.time()
    while not cond() and time.time() - t0 < timeout: time.sleep(0.2)

def _model(folder: Path) -> Path:
    "A small untrained 4x UNet in the model store (prediction's faults do not depend on training)."
    from bpho_lib.store import save
    from bpho_lib.unet import ModelConfig, build_model
    save(folder, build_model(ModelConfig(arch="plain", base=8)).eval(),
         {"model": {"arch": "plain", "base": 8, "scale": 4, "n_in": 1}, "name": "plainunet__faults__mse__0E"})
    return folder

def _image(path: Path, nan: int = 0) -> Path:
    "A 64x64 OME-TIFF (float32 with `nan` NaN pixels, else uint16)."
    import numpy as np
    from bpho_lib.io import write_ome_tiff
    a = (np.arange(64 * 64) % 997).reshape(64, 64).astype(np.float32 if nan else np.uint16)
    if nan: a.flat[:nan] = np.nan
    write_ome_tiff(path, a, "YX", {"X": 0.1, "Y": 0.1})
    return path
