"""`train.launcher: accelerate`: the train stage under `accelerate launch` with the two-process CPU config
(configs/accelerate/cpu-2proc.yaml: DDP over gloo, started by mpirun), then evaluate loads what it saved."""

from __future__ import annotations

import json
import shutil

import pytest
from test_e2e import _jsonl, _ran, _run, make_project

pytestmark = pytest.mark.slow


def test_two_cpu_processes_train_and_evaluate_loads_the_adapter(tmp_path, tiny_model_dir, toy_jsonl):
    if shutil.which("mpirun") is None:
        pytest.skip("accelerate's multi-CPU launcher needs mpirun (pip install mpich)")
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl, **{"train.launcher": "accelerate",
                                                                "train.accelerate_config":
                                                                    "configs/accelerate/cpu-2proc.yaml"})
    out = _run(["dvc", "repro", "evaluate"], proj).stdout
    assert {"train", "evaluate"} <= _ran(out)
    meta = json.loads((proj / "models/ud/ud_model.json").read_text())
    assert meta["processes"] == 2 and meta["distributed"] == "MULTI_CPU" and meta["steps"] >= 1
    assert (proj / "models/ud/adapter_model.safetensors").exists()
    assert not (proj / "models/ud/training_args.bin").exists()  # no pickles in the outputs
    sft = sum(1 for _ in open(proj / "data/sft/train.jsonl"))
    # each process takes batch_size examples per step: two processes halve the steps of one
    assert meta["steps"] == -(-sft // (4 * 2)), (sft, meta["steps"])
    recs = [r for r in _jsonl(proj / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert len(recs) == 4 and all(r["answer_key"] is not None and r["bin"] is not None for r in recs)
