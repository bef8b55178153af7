"Shared fixtures: throwaway projects (settings.ini + manifest + data root) so tests never touch the lab's files."
import shutil, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parent.parent
BPHO = Path(sys.executable).parent/"bpho"

@pytest.fixture
def project(tmp_path):
    "A copy of the project's manifest and lock with its own data root; returns its folder."
    (tmp_path/"settings.ini").write_text("[bpho]\nroot = data\n")
    shutil.copy(REPO/"datasources.toml", tmp_path/"datasources.toml")
    if (REPO/"datasources.lock.json").exists(): shutil.copy(REPO/"datasources.lock.json", tmp_path/"datasources.lock.json")
    (tmp_path/"data").mkdir()
    return tmp_path

def bpho(*args, cwd=None, env=None):
    "Run the installed `bpho` console script; returns the CompletedProcess. BPHO_* variables come only from `env`."
    import os
    base = {k: v for k, v in os.environ.items() if not k.startswith("BPHO_")}
    env = {**base, **{k: v for k, v in (env or {}).items() if k.startswith("BPHO_")}}
    return subprocess.run([str(BPHO), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="session")
def sampled(tmp_path_factory):
    "A project with all sample sources at full size, made by `bpho sample` against a copy of the committed lock."
    d = tmp_path_factory.mktemp("proj")
    (d/"settings.ini").write_text("[bpho]\nroot = data\n")
    shutil.copy(REPO/"datasources.toml", d); shutil.copy(REPO/"datasources.lock.json", d)
    r = bpho("sample", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    return d, r.stdout

def own_project(sampled, tmp_path_factory, name: str):
    "A project of its own (a copy of the sampled sources, checked against the lock and frozen there by `bpho sample`): other tests' datasets stay as they expect. Returns its folder and `bpho sample`'s run."
    src, _ = sampled
    d = tmp_path_factory.mktemp(name)
    for f in ("settings.ini", "datasources.toml", "datasources.lock.json"): shutil.copy(src/f, d)
    shutil.copytree(src/"data/datasources", d/"data/datasources")
    return d, bpho("sample", cwd=d)

def script(name, *args, cwd, **kw):
    "Run a dataset script of the project; returns the CompletedProcess."
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPHO_")}
    return subprocess.run([sys.executable, str(REPO/"scripts/dataset"/f"{name}.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=900, **kw)

def link_sources(project, root, *names):
    "Another data root that links to `project`'s sample sources: `bpho sample` checks them against the lock there and freezes them for it."
    import os
    Path(root).mkdir(parents=True, exist_ok=True)
    os.symlink(Path(project)/"data/datasources", Path(root)/"datasources")
    r = bpho("sample", *names, "--root", root, cwd=project)
    assert r.returncode == 0 and "now frozen here" in r.stdout, r.stdout + r.stderr
