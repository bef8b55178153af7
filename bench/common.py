"""Shared by the bench scripts: a throwaway project with the sample pairs and paired_001 built, figures as
min / median / max, and BENCHMARKS.md written section by section (each script replaces only its own `## ` section).

    python bench/common.py --header --out BENCHMARKS.md    # the header (machine, versions, date) and the GPU placeholder
"""
import argparse, datetime, json, os, platform, re, shutil, statistics, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
INTRO = "Every figure comes from `make bench` and compares with a reference measured in the same run."
GPU_PLACEHOLDER = "## GPU\n\nNot measured yet: no GPU on the machine that ran `make bench` (bench/gpu.sh fills this section on a GPU machine).\n"

def stats(v, fmt="{:.2f}") -> str:
    "min / median / max."
    return " / ".join(fmt.format(x) for x in (min(v), statistics.median(v), max(v)))

def _probed(cmd, cwd=None, preexec_fn=None) -> tuple[float, float, int, str, str]:
    "Run `cmd` in a fresh child; (seconds, peak RSS in MiB of it and its children, return code, stdout, stderr)."
    # measured from a small interpreter: Linux carries a process's peak RSS across exec, and the caller may be large
    probe = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps([time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode, r.stdout, r.stderr]))")
    r = subprocess.run([PY, "-c", probe, *map(str, cmd)], capture_output=True, text=True, cwd=cwd, preexec_fn=preexec_fn)
    if r.returncode: return 0.0, 0.0, r.returncode, "", r.stderr  # the probe itself was killed (e.g. by a memory limit)
    return tuple(json.loads(r.stdout))

def measured(cmd, cwd=None) -> tuple[float, float, str]:
    "Run `cmd` in a fresh child; (seconds, peak RSS in MiB of it and its children, stdout)."
    secs, rss, code, stdout, stderr = _probed(cmd, cwd)
    if code: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{stderr}")
    return secs, rss, stdout

def _memory_cgroup() -> tuple[Path | None, str]:
    "A new memory cgroup under this process's own (cgroup v1 or v2), or (None, why not)."
    try: lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError: return None, "no /proc/self/cgroup (not Linux)"
    v1 = [l.split(":", 2)[2] for l in lines if l.split(":")[1] == "memory"]
    v2 = [l.split(":", 2)[2] for l in lines if l.startswith("0::")]
    base = (Path("/sys/fs/cgroup/memory" + v1[0]) if v1 else Path("/sys/fs/cgroup" + v2[0]) if v2 else None)
    if base is None or not base.is_dir(): return None, "no memory cgroup controller"
    cg = base/f"bpho-bench-{os.getpid()}"
    try: cg.mkdir()
    except OSError as e: return None, f"cannot create a memory cgroup under {base} ({e.strerror}; needs root or a delegated cgroup)"
    return cg, ""

def capped(cmd, limit: int, cwd=None) -> dict:
    "Run `cmd` confined to `limit` bytes of memory (a cgroup: exceeding it kills the process): seconds, peak RSS, return code."
    cg, why = _memory_cgroup()
    if cg is None: return {"why": why}
    v1 = (cg/"memory.limit_in_bytes").exists()
    limit_file, peak_file = (cg/"memory.limit_in_bytes", cg/"memory.max_usage_in_bytes") if v1 else (cg/"memory.max", cg/"memory.peak")
    try:
        limit_file.write_text(str(limit))
        join = lambda: (cg/"cgroup.procs").write_text(str(os.getpid()))
        secs, rss, code, _, stderr = _probed(cmd, cwd, preexec_fn=join)  # rss is 0 when the cap killed the probe itself
        peak = int(peak_file.read_text()) if peak_file.exists() else None  # the cgroup's high-water mark, page cache included
        return {"seconds": secs, "rss_mib": rss, "returncode": code, "cgroup_peak": peak, "stderr": stderr[-2000:]}
    finally:
        try: cg.rmdir()
        except OSError: pass

def smoke_model() -> dict:
    "The network of experiment 101's smoke configuration (NET in its SMOKE parameter), with its scale and input frames."
    nb = json.loads((REPO/"nbs/101_paired_001_unet.ipynb").read_text())
    src = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith("# parameters"))
    ps = {}; exec(src, ps)  # plain assignments of constants (the notebook's parameters cell)
    return {**ps["SMOKE"]["NET"], "scale": ps["SCALE"], "n_in": ps["N_IN"]}

def load() -> str:
    "The 1-minute load average (other jobs on a shared machine slow every figure down)."
    try: return f"{os.getloadavg()[0]:.1f}"
    except OSError: return "unknown"

def make_project(tmp: Path, n_pairs: int | None = None) -> Path:
    "A throwaway project with the repository's manifest (optionally more sample pairs) and its own data root."
    text = (REPO/"datasources.toml").read_text()
    if n_pairs: text = re.sub(r'(generator = "pairs_mito", seed = 1, n = )\d+', rf"\g<1>{n_pairs}", text)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp/"datasources.toml").write_text(text); (tmp/"settings.ini").write_text("[bpho]\nroot = data\n")
    if not n_pairs: shutil.copy(REPO/"datasources.lock.json", tmp)
    return tmp

def paired_project(work: Path) -> Path:
    "`work`/p: the sample pairs and paired_001 built from them (kept between bench scripts sharing `work`)."
    p = make_project(Path(work)/"p")
    if not (p/"data/datasources/sample_pairs_mito").is_dir():
        subprocess.run([BIN/"bpho", "sample", "sample_pairs_mito"], cwd=p, check=True, capture_output=True)
    if not (p/"data/datasets/paired_001/dataset.json").is_file():
        subprocess.run([PY, REPO/"scripts/dataset/paired_001.py", "--source", "sample_pairs_mito"], cwd=p, check=True, capture_output=True)
    return p

def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return (r.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")

def cpu_name() -> str:
    try: return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration): return platform.processor() or platform.machine()

def header() -> str:
    import torch, fastai, numpy
    from bpho_lib import __version__
    try: mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    except (ValueError, OSError): mem = "RAM unknown"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (everything below ran on the CPU)"
    return (f"# bpho benchmarks\n\n{INTRO}\n\n"
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n"
            f"- machine: {cpu_name()}, {os.cpu_count()} cores, {mem}, {gpu}; {platform.system()} {platform.release()}\n"
            f"- versions: bpho {__version__} at commit {git_commit()}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"fastai {fastai.__version__}, numpy {numpy.__version__}\n"
            f"- figures: min / median / max over the repeats stated in each section\n"
            f"- load average (1 min) when the run started: {load()} on {os.cpu_count()} cores{busy()}\n")

def busy() -> str:
    "A note when the load average is above the core count: other jobs were competing."
    try: return " (above the core count, other jobs were competing)" if os.getloadavg()[0] > (os.cpu_count() or 1) else ""
    except OSError: return ""

def write_section(out, text: str, title: str | None = None):
    "Replace the `## title...` section of `out` with `text` (in place), or add it before `## GPU`; other sections untouched."
    out = REPO/out
    title = title or text.splitlines()[0][3:]
    doc = out.read_text() if out.exists() else header()
    pat = re.compile(r"^## " + re.escape(title) + r".*?(?=^## |\Z)", re.S | re.M)
    body = text.rstrip() + "\n\n"
    if pat.search(doc): doc = pat.sub(lambda m: body, doc, count=1)
    elif re.search(r"^## GPU", doc, re.M): doc = re.sub(r"^## GPU", lambda m: body + "## GPU", doc, count=1, flags=re.M)
    else: doc = doc.rstrip() + "\n\n" + body
    out.write_text(doc.rstrip() + "\n")

def write_header(out):
    "Replace everything before the first `## ` with a fresh header; add the GPU placeholder if there is no GPU section."
    out = REPO/out
    doc = out.read_text() if out.exists() else ""
    m = re.search(r"^## ", doc, re.M)
    rest = doc[m.start():] if m else ""
    if not re.search(r"^## GPU", rest, re.M): rest = rest.rstrip() + ("\n\n" if rest.strip() else "") + GPU_PLACEHOLDER
    out.write_text(header() + "\n" + rest.rstrip() + "\n")

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--header", action="store_true"); ap.add_argument("--out", default="BENCHMARKS.md")
    a = ap.parse_args()
    if a.header: write_header(a.out); print(header())
