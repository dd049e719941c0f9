"""Sampling on Ray actors (`sample.workers`): the stage script on a local Ray, the tiny model, 8 questions.

The sample file must not depend on how many workers drew it, and a kill -9 of the whole run (driver and Ray
processes) must lose only the units in flight. On CPU the torch thread count is part of the numerics, so every
run here computes with one thread per worker (UD_THREADS=1 for the in-process path, threads_per_worker=1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from test_e2e import _env, _run, _sha, fresh_start, make_project

pytestmark = pytest.mark.slow
pytest.importorskip("ray")


def _set_workers(proj, workers: int) -> None:
    p = yaml.safe_load((proj / "params.yaml").read_text())
    p["sample"]["workers"] = workers
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def test_one_two_and_four_workers_write_the_same_sample_file(tmp_path, tiny_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl,  # 4 chunks x 2 blocks of 3
                        **{"sample.chunk": 2, "sample.threads_per_worker": 1})
    _run(["dvc", "repro", "prepare"], proj)
    samples = proj / "data/samples/calibration.jsonl.gz"
    shas = {}
    for workers in (1, 2, 4):
        fresh_start(proj) if samples.exists() else None
        _set_workers(proj, workers)
        _run([sys.executable, "stages/sample.py", "calibration"], proj)
        meta = json.loads((proj / "data/samples/calibration.meta.json").read_text())
        run = json.loads((proj / "timings/sample@calibration.json").read_text())
        assert meta["workers"] == workers and run["units"] == {"computed": 8, "from_cache": 0, "redone": []}
        assert meta["samples"] == 8 * 6
        shas[workers] = _sha(samples)
    assert shas[1] == shas[2] == shas[4], shas


def test_killed_ray_run_resumes_to_the_same_bytes(tmp_path, tiny_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl, **{"sample.chunk": 1, "sample.block": 1,
                                                                "sample.workers": 2, "sample.threads_per_worker": 1})
    _run(["dvc", "repro", "prepare"], proj)
    cache = proj / "data/cache/samples/calibration"
    units = lambda: list(cache.glob("*/c*-b*.jsonl"))  # noqa: E731
    proc = subprocess.Popen([sys.executable, "stages/sample.py", "calibration"], cwd=proj, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(units()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started: no cleanup runs
    proc.wait()
    done = len(units())
    assert 2 <= done < 8 * 6, done
    _run([sys.executable, "stages/sample.py", "calibration"], proj)
    run = json.loads((proj / "timings/sample@calibration.json").read_text())  # what this run did
    assert run["units"]["from_cache"] >= done and run["units"]["computed"] + run["units"]["from_cache"] == 48
    resumed = _sha(proj / "data/samples/calibration.jsonl.gz")
    fresh_start(proj)
    _set_workers(proj, 1)
    _run([sys.executable, "stages/sample.py", "calibration"], proj)
    assert _sha(proj / "data/samples/calibration.jsonl.gz") == resumed
