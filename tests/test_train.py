"""Training survives a kill: checkpoints in a folder keyed by the inputs, resumed by the next run, ending with the
weights an uninterrupted run ends with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ud.method.train import last_checkpoint

ROOT = Path(__file__).parents[1]


def test_last_checkpoint_skips_one_cut_by_a_kill(tmp_path):
    assert last_checkpoint(tmp_path / "none") is None
    for step, whole in ((3, True), (6, True), (9, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if whole:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path).name == "checkpoint-6"


def _project(tmp: Path, name: str, model_dir: str) -> Path:
    from conftest import QUESTIONS

    proj = tmp / name
    (proj / "data/sft").mkdir(parents=True)
    (proj / "models").mkdir()
    labels = ["very low", "low", "medium", "high", "very high"]
    with open(proj / "data/sft/train.jsonl", "w") as fh:
        for i in range(60):
            q = QUESTIONS[i % len(QUESTIONS)]
            fh.write(json.dumps({"prompt": f"Question: {q['question']}\nAnswer:",
                                 "completion": f" {q['choices'][i % len(q['choices'])]}\nConfidence: {labels[i % 5]}"})
                     + "\n")
    (proj / "models/binner.json").write_text(json.dumps({"edges": [0, .2, .4, .6, .8, 1], "labels": labels}))
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["model"]["id"] = model_dir
    p["train"].update(epochs=3, batch_size=2, save_steps=4, logging_steps=1)
    (proj / "params.yaml").write_text(yaml.safe_dump(p))
    return proj


def _train(proj: Path, wait: bool = True):
    env = dict(os.environ, HF_HUB_OFFLINE="1", UD_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, str(ROOT / "stages/train.py")]
    if not wait:
        return subprocess.Popen(cmd, cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _weights(proj: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(proj / "models/ud/adapter_model.safetensors"))


@pytest.mark.slow
def test_killed_train_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, tiny_model_dir):
    whole = _project(tmp_path, "whole", tiny_model_dir)
    _train(whole)
    assert not (whole / "data/cache/train").exists() or not any((whole / "data/cache/train").iterdir())

    killed = _project(tmp_path, "killed", tiny_model_dir)
    proc = _train(killed, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list((killed / "data/cache/train").glob("*/checkpoint-*/trainer_state.json")):
            break
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    saved = last_checkpoint(next((killed / "data/cache/train").iterdir()))
    assert saved is not None and not (killed / "models/ud").exists()  # killed mid-training, after a checkpoint
    r = _train(killed)
    assert f"resuming from {saved.relative_to(killed)}" in r.stdout + r.stderr
    meta = json.loads((killed / "models/ud/ud_model.json").read_text())
    assert meta["resumed_from_step"] == int(saved.name.split("-")[1]) and meta["steps"] == 90
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6


def test_scoring_only_the_completion_positions_gives_the_same_loss(tiny_model_dir):
    """ud.method.train.score_completions_only: TRL's fused LM head on CPU projects only the labelled positions; the loss
    and its gradient equal those of projecting every position."""
    import torch
    import trl.trainer.utils as trl_utils
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trl_utils.add_fused_lm_head(model)
    ids = torch.randint(5, 300, (2, 12), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :8] = -100  # the prompt carries no label
    original, out = trl_utils._use_triton, {}
    try:
        for compact in (False, True):
            trl_utils._use_triton = lambda device, c=compact: c
            model.zero_grad()
            loss = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
            loss.backward()
            out[compact] = (loss.item(), model.model.embed_tokens.weight.grad.clone())
    finally:
        trl_utils._use_triton = original
    assert out[True][0] == pytest.approx(out[False][0], abs=1e-6)
    assert torch.allclose(out[True][1], out[False][1], atol=1e-6)


def test_adapter_config_is_written_the_same_whatever_the_hash_seed(tmp_path):
    """The same adapter must be the same bytes on every run, or dvc.lock changes on every rerun."""
    import json

    from ud.method.train import stable_adapter_config

    files = []
    for i, modules in enumerate((["q_proj", "v_proj", "down_proj"], ["down_proj", "q_proj", "v_proj"])):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps({"target_modules": modules, "r": 16}))
        stable_adapter_config(path)
        files.append(path.read_bytes())
    assert files[0] == files[1] and json.loads(files[0])["target_modules"] == ["down_proj", "q_proj", "v_proj"]
