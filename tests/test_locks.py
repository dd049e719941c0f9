"""The committed runs (the default's dvc.lock, results/cpu-large/) were computed by this code with these params: a
code or params change that would rerun a stage must come with the rerun, or the README's numbers describe code that
no longer exists."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
RUNS = [("dvc.lock", "params.yaml"), ("results/cpu-large/dvc.lock", "results/cpu-large/params.yaml")]


def _value(params: dict, dotted: str):
    cur = params
    for part in dotted.split("."):
        cur = cur[part]
    return cur


@pytest.mark.parametrize("lock_file,params_file", RUNS)
def test_committed_lock_matches_the_code_and_params(lock_file, params_file):
    lock = yaml.safe_load((ROOT / lock_file).read_text())["stages"]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    names = {f"{n}@{item}" for n, s in stages.items() for item in s.get("foreach", [])} | \
        {n for n, s in stages.items() if "foreach" not in s}
    assert set(lock) == names, f"{lock_file}: stages differ from dvc.yaml's"
    params = yaml.safe_load((ROOT / params_file).read_text())
    stale = []
    for name, entry in lock.items():
        for dep in entry.get("deps", []):
            if dep["path"].startswith(("src/", "stages/")):
                path = ROOT / dep["path"]
                if not path.exists() or hashlib.md5(path.read_bytes()).hexdigest() != dep["md5"]:
                    stale.append(f"{name}: {dep['path']}")
        for key, value in entry.get("params", {}).get("params.yaml", {}).items():
            if _value(params, key) != value:
                stale.append(f"{name}: param {key}")
    assert not stale, f"{lock_file} was computed by other code or params (rerun them): {stale}"
