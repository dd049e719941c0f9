"""Stage scripts on bad input: one clear line and exit code 2, never a traceback or a silent wrong number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _stage(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_an_empty_sft_set_is_one_clear_line(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "data/sft").mkdir(parents=True)
    (tmp_path / "data/sft/train.jsonl").write_text("")
    (tmp_path / "models").mkdir()
    (tmp_path / "models/binner.json").write_text(json.dumps({"edges": [0, 0.5, 1], "labels": ["lo", "hi"]}))
    r = _stage("train.py", tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: train: the SFT set is empty")


def test_missing_inputs_and_bad_params_are_one_clear_line(tmp_path):
    r = _stage("calibrate.py", tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: params.yaml not found: run stages from the repository root"
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    r = _stage("calibrate.py", tmp_path)
    assert r.returncode == 2 and "data/answers/calibration.jsonl does not exist" in r.stderr
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("  lr: ", "  lrr: "))
    r = _stage("calibrate.py", tmp_path)
    assert r.returncode == 2 and "train.lrr: unknown key (did you mean 'train.lr'?)" in r.stderr
