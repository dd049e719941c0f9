"""The committed runs (the default's dvc.lock, results/cpu-large/) were computed by this code with these params: a
code or params change that would rerun a stage must come with the rerun, or the README's numbers describe code that
no longer exists. A kept run whose folder holds `code_commit` was computed by the code of that commit (its README
block says so): its lock is checked against that commit's files instead."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
RUNS = [("dvc.lock", "params.yaml"), ("results/cpu-large/dvc.lock", "results/cpu-large/params.yaml"),
        ("results/open-arithmetic/dvc.lock", "results/open-arithmetic/params.yaml")]


def _value(params: dict, dotted: str):
    cur = params
    for part in dotted.split("."):
        cur = cur[part]
    return cur


def _reader(lock_file: str):
    """read(path) -> the bytes of a file of the code that computed the run (None: no such file)."""
    pinned = (ROOT / lock_file).parent / "code_commit"
    if not pinned.exists():
        return lambda path: (ROOT / path).read_bytes() if (ROOT / path).exists() else None
    commit = pinned.read_text().strip()
    if subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT).returncode != 0:
        pytest.skip(f"{lock_file} was computed by commit {commit}, which this clone does not have")

    def read(path):
        out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True)
        return out.stdout if out.returncode == 0 else None
    return read


@pytest.mark.parametrize("lock_file,params_file", RUNS)
def test_committed_lock_matches_the_code_and_params(lock_file, params_file):
    read = _reader(lock_file)
    lock = yaml.safe_load((ROOT / lock_file).read_text())["stages"]
    stages = yaml.safe_load(read("dvc.yaml"))["stages"]
    names = {f"{n}@{item}" for n, s in stages.items() for item in s.get("foreach", [])} | \
        {n for n, s in stages.items() if "foreach" not in s}
    assert set(lock) == names, f"{lock_file}: stages differ from dvc.yaml's"
    params = yaml.safe_load((ROOT / params_file).read_text())
    stale = []
    for name, entry in lock.items():
        for dep in entry.get("deps", []):
            if dep["path"].startswith(("src/", "stages/")):
                code = read(dep["path"])
                if code is None or hashlib.md5(code).hexdigest() != dep["md5"]:
                    stale.append(f"{name}: {dep['path']}")
        for key, value in entry.get("params", {}).get("params.yaml", {}).items():
            if _value(params, key) != value:
                stale.append(f"{name}: param {key}")
    assert not stale, f"{lock_file} was computed by other code or params (rerun them): {stale}"
