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
