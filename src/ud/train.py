"""Fine-tuning (paper §3.3, Appendix L): TRL SFTTrainer, completion-only loss, LoRA (peft) or full.

Output folder (models/ud/): a peft adapter (LoRA) or a full model, the tokenizer, and ud_model.json naming the
base model so inference can rebuild it: {base, base_revision, method, labels}.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ud.errors import DataError


def train(model_id: str, examples: list[dict], out_dir: str, cfg, seed: int, *, dtype: str = "float32",
          live_dir: str | None = None, labels: list[str] | None = None) -> dict:
    """Fine-tune `model_id` on prompt/completion examples; `cfg` is the `train` params section. dtype: float32
    trains in fp32; bfloat16/float16 train with mixed precision (fp32 master weights, half-precision autocast)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ud import models

    if not examples:
        raise DataError("train: the SFT set is empty: no calibration question gave an example (check "
                        "metrics/annotate.json and the answer sets' invalid counts)")
    models.set_threads()
    ref = models.ensure_local(models.resolve(model_id))
    tok = AutoTokenizer.from_pretrained(ref.load_from)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(ref.load_from, dtype=torch.float32)
    examples = drop_overlong(examples, tok, cfg.max_length)
    ds = Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])

    peft_config = None
    if cfg.method == "lora":
        from peft import LoraConfig

        lc = cfg.lora
        peft_config = LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout,
                                 target_modules=lc.target_modules, task_type="CAUSAL_LM")

    use_cpu = not torch.cuda.is_available()
    work = tempfile.mkdtemp(prefix="ud-train-")
    args = SFTConfig(
        output_dir=work, num_train_epochs=float(cfg.epochs), learning_rate=float(cfg.lr),
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_length=cfg.max_length, completion_only_loss=True, use_cpu=use_cpu,
        # SFTConfig turns bf16 on by itself on CPU unless told: mixed precision only when model.dtype asks for it
        bf16=dtype == "bfloat16", fp16=dtype == "float16",
        gradient_checkpointing=False, logging_steps=cfg.logging_steps, save_strategy="no",
        report_to=[], seed=seed, data_seed=seed, lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_steps, disable_tqdm=False,
    )
    callbacks = []
    live = None
    if live_dir:
        from dvclive import Live
        from transformers.integrations import DVCLiveCallback

        live = Live(live_dir, dvcyaml=False, save_dvc_exp=False, report=None)
        callbacks.append(DVCLiveCallback(live=live, log_model=False))
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config,
                         callbacks=callbacks)
    result = trainer.train()
    if live is not None:
        live.end()

    out = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None, prefix=".ud-model-"))
    trainer.model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    meta = {"base": model_id, "base_revision": ref.revision, "method": cfg.method, "dtype": dtype, "labels": labels,
            "train_loss": float(result.training_loss), "steps": int(result.global_step),
            "examples": len(examples)}
    (tmp / "ud_model.json").write_text(json.dumps(meta, indent=1))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return meta


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
