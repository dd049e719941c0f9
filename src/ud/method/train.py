"""Fine-tuning (paper §3.3, Appendix L): TRL SFTTrainer, completion-only loss, LoRA (peft) or full.

Output folder (models/ud/): a peft adapter (LoRA) or a full model, the tokenizer, and ud_model.json naming the
base model so inference can rebuild it: {base, base_revision, method, labels}.

A killed run loses at most `train.save_steps` steps: checkpoints (weights, optimizer, scheduler, RNG states) go to
a folder keyed by everything that decides the result (model, examples, settings, seed), and the next run with the
same inputs resumes from the last complete one -- ending with the weights an uninterrupted run ends with.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ud.errors import DataError

CHECKPOINTS = Path("data/cache/train")  # git-ignored, not a DVC output: a rerun finds what a killed run saved


WALL_CLOCK = ("train_runtime", "train_samples_per_second", "train_steps_per_second")

def last_checkpoint(work: Path) -> Path | None:
    """The newest checkpoint whose trainer state was written (a checkpoint cut by a kill has none)."""
    done = [c for c in work.glob("checkpoint-*") if (c / "trainer_state.json").exists()]
    return max(done, key=lambda c: int(c.name.split("-")[1])) if done else None


def score_completions_only() -> None:
    """TRL's fused LM head projects only the positions that carry a label (the completion) on Triton devices, and
    every position elsewhere, to keep tile shapes fixed for compilers. Eager CPU has no compiler to appease: there,
    projecting the ~100 prompt positions of an example onto the vocabulary (151k for Qwen) was a quarter of a step.
    The loss is the same (ignored positions contribute zero either way)."""
    import trl.trainer.utils as trl_utils

    if hasattr(trl_utils, "_use_triton") and not getattr(trl_utils, "_ud_compact", False):
        use_triton = trl_utils._use_triton
        trl_utils._use_triton = lambda device: use_triton(device) or device.type == "cpu"
        trl_utils._ud_compact = True


def train(model_id: str, examples: list[dict], out_dir: str, cfg, seed: int, *, dtype: str = "float32",
          live_dir: str | None = None, labels: list[str] | None = None, checkpoints: Path = CHECKPOINTS) -> dict:
    """Fine-tune `model_id` on prompt/completion examples; `cfg` is the `train` params section. dtype: float32
    trains in fp32; bfloat16/float16 train with mixed precision (fp32 master weights, half-precision autocast)."""
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ud.engines import models

    if not examples:
        raise DataError("train: the SFT set is empty: no calibration question gave an example (check "
                        "metrics/annotate.json and the answer sets' invalid counts)")
    models.set_threads()
    ref = models.ensure_local(models.resolve(model_id))
    tok = AutoTokenizer.from_pretrained(ref.load_from)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    # LoRA: the frozen base in model.dtype (bf16 halves the weights' memory traffic; peft keeps the adapters in
    # fp32); full fine-tuning: fp32 master weights, half precision only under autocast
    model = AutoModelForCausalLM.from_pretrained(ref.load_from, dtype=getattr(torch, dtype) if cfg.method == "lora"
                                                 else torch.float32)
    examples = drop_overlong(examples, tok, cfg.max_length)
    ds = Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])

    peft_config = None
    if cfg.method == "lora":
        from peft import LoraConfig

        lc = cfg.lora
        n_layers = model.config.num_hidden_layers
        top = list(range(n_layers - lc.layers, n_layers)) if lc.layers and lc.layers < n_layers else None
        targets = lc.target_modules
        if top is not None and targets == "all-linear":  # peft takes layers_to_transform only with module names
            targets = sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                              if isinstance(mod, torch.nn.Linear) and ".layers." in name})
        peft_config = LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=targets,
                                 layers_to_transform=top, task_type="CAUSAL_LM")

    use_cpu = not torch.cuda.is_available()
    key = hashlib.sha256(json.dumps([model_id, ref.revision, examples, cfg.model_dump(), seed, dtype, labels],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    work = Path(checkpoints) / key
    resume = last_checkpoint(work)
    if resume is not None:
        print(f"train: resuming from {resume} (a killed run's last checkpoint)")
    args = SFTConfig(
        output_dir=str(work), num_train_epochs=float(cfg.epochs), learning_rate=float(cfg.lr),
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_length=cfg.max_length, completion_only_loss=True, use_cpu=use_cpu,
        # SFTConfig turns bf16 on by itself on CPU unless told: mixed precision only when model.dtype asks for it
        bf16=dtype == "bfloat16", fp16=dtype == "float16",
        gradient_checkpointing=False, logging_steps=cfg.logging_steps, save_strategy="steps",
        save_steps=cfg.save_steps, save_total_limit=2,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        report_to=[], seed=seed, data_seed=seed, lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_steps, disable_tqdm=False,
    )
    callbacks = []
    live = None
    if live_dir and PartialState().is_main_process:  # one process logs (under accelerate launch there are many)
        from dvclive import Live
        from transformers.integrations import DVCLiveCallback

        class ResultsOnly(DVCLiveCallback):
            """The Trainer's wall-clock rates are machine facts, not results: the stage keeps them in timings/."""

            def on_log(self, args, state, control, model=None, logs=None, **kwargs):
                logs = {k: v for k, v in (logs or {}).items() if k not in WALL_CLOCK}
                super().on_log(args, state, control, model=model, logs=logs, **kwargs)

        live = Live(live_dir, dvcyaml=False, save_dvc_exp=False, report=None, resume=resume is not None)
        callbacks.append(ResultsOnly(live=live, log_model=False))
    score_completions_only()
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config,
                         callbacks=callbacks)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if live is not None:
        live.end()

    acc = trainer.accelerator
    meta = {"base": model_id, "base_revision": ref.revision, "method": cfg.method, "dtype": dtype, "labels": labels,
            "train_loss": float(result.training_loss), "steps": int(result.global_step),
            "examples": len(examples), "resumed_from_step": int(resume.name.split("-")[1]) if resume else None,
            "processes": acc.num_processes, "distributed": str(acc.distributed_type).rsplit(".", 1)[-1]}
    out = Path(out_dir)
    # every process takes part in saving (FSDP / ZeRO-3 gather the shards); the main process writes the files
    tmp = Path(out.parent if out.parent.exists() else tempfile.gettempdir()) / f".ud-model-{key}"
    if acc.is_main_process and tmp.exists():
        shutil.rmtree(tmp)  # left by a run killed while saving
    acc.wait_for_everyone()
    trainer.save_model(str(tmp))
    if acc.is_main_process:
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle, and not needed to load the model
        stable_adapter_config(tmp / "adapter_config.json")
        tok.save_pretrained(tmp)
        (tmp / "ud_model.json").write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        shutil.rmtree(work, ignore_errors=True)  # done: the checkpoints are not needed any more
    acc.wait_for_everyone()
    return meta


def stable_adapter_config(path: Path) -> None:
    """peft writes target_modules from a set, in an order that changes with the process's hash seed: the same
    adapter would get another file (and another hash in dvc.lock) on every run. Sorted, it is the same every time."""
    if not path.exists():
        return
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True))

def example_length(e: dict, tok) -> int:
    if isinstance(e["prompt"], list):  # conversational: what TRL will tokenize
        return len(tok.apply_chat_template(e["prompt"] + e["completion"], tokenize=True, return_dict=True)["input_ids"])
    return len(tok(e["prompt"] + e["completion"])["input_ids"])


def drop_overlong(examples: list[dict], tok, max_length: int) -> list[dict]:
    """Drop (and say so) examples longer than max_length: TRL would cut their completion, i.e. the very
    confidence we are teaching."""
    kept = [e for e in examples if example_length(e, tok) <= max_length]
    if len(kept) < len(examples):
        longest = max(example_length(e, tok) for e in examples)
        msg = (f"train.max_length={max_length}: {len(examples) - len(kept)} of {len(examples)} examples are longer "
               f"(longest {longest} tokens)")
        if not kept:
            raise DataError(msg + "; every example would lose its confidence label -- raise train.max_length")
        print(f"warning: {msg}; dropped them rather than truncating their completions")
    return kept
