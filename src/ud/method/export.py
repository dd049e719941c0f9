"""`ud export`: the distilled model as a standalone transformers folder anyone can load or serve.

The LoRA adapter is merged into its base (a fully fine-tuned model is copied as it is), and the folder gets the
weights as safetensors, the tokenizer with its chat template, `ud_labels.json` (the labels, their bins and the
prompt the model was taught with) and a model card (README.md): the base model, the data, how to ask, each label's
bin and its accuracy on the test split, and the reliability figure. `transformers` and `vllm serve` load it as any
causal LM.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ud import io, paths
from ud.engines import models
from ud.errors import DataError


def _label_rows(binner: dict, reliability: list[dict] | None) -> list[str]:
    rows = ["| label | bin of P(correct) | test answers | accuracy on the test split |", "|---|---|---|---|"]
    acc = {r["label"]: r for r in reliability or []}
    for i, label in enumerate(binner["labels"]):
        lo, hi = binner["edges"][i], binner["edges"][i + 1]
        r = acc.get(label)
        count = r["count"] if r else "-"
        accuracy = f"{r['accuracy']:.3f}" if r and r["accuracy"] is not None else "-"
        rows.append(f"| {label} | [{lo:.2f}, {hi:.2f}{']' if i == len(binner['labels']) - 1 else ')'} | {count} | "
                    f"{accuracy} |")
    return rows


def model_card(info: dict, p, binner: dict, metrics: dict | None, reliability: list[dict] | None,
               example_prompt: str, figure: bool) -> str:
    m = metrics or {}
    lines = [
        "---", "library_name: transformers", f"base_model: {info['base']}", "tags: [uncertainty-distillation, ud]",
        "---", "",
        f"# {info['base']}, distilled to state its confidence (ud)", "",
        "Fine-tuned with uncertainty distillation (ud): the model answers and, in the same generation, names a "
        "confidence label whose accuracy matches what the label says.", "",
        f"- **Base model:** `{info['base']}` (revision `{info.get('base_revision')}`), "
        f"{'LoRA merged into the base' if info.get('method') == 'lora' else 'fully fine-tuned'}",
        f"- **Data:** `{p.data.source}` / `{p.data.dataset}`: {p.prepare.calibration.questions} calibration "
        f"questions, sampled with the `{p.sample.estimator}` estimator (N = {p.n}), calibration `{p.calibrate.method}`,"
        f" binning `{p.annotate.binning}` ({p.bins} bins)",
        f"- **Test split:** {m.get('n', '-')} questions, accuracy {_f(m.get('accuracy'))}, binned AUROC "
        f"{_f(m.get('auroc'))}, ECE {_f(m.get('ece'))}", "",
        "## Labels", "", *_label_rows(binner, reliability), "",
    ]
    if figure:
        lines += ["![Reliability on the test split](reliability.png)", ""]
    lines += ["## How to ask", "", "The prompt it was taught with (`ud_labels.json` holds it too):", "", "```",
              example_prompt, "```", "",
              "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
              "tok = AutoTokenizer.from_pretrained(PATH); model = AutoModelForCausalLM.from_pretrained(PATH)", "```",
              "", "Or serve it: `vllm serve PATH`.", ""]
    return "\n".join(lines)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def export(out: str | Path, p, *, model_dir: Path = paths.UD_MODEL, metrics_dir: Path = paths.METRICS,
           dtype: str | None = None) -> Path:
    """Write the standalone folder `out` for the model the train stage wrote to `model_dir` (params `p`)."""
    from ud.data.prompts import Format

    out = Path(out)
    info = models.trained_info(model_dir)
    if not paths.BINNER.exists():
        raise DataError(f"{paths.BINNER} does not exist: run `dvc repro` first (export needs the labels)")
    binner = io.read_json(paths.BINNER)
    lora = info.get("method") == "lora"
    model, tok, _ = models.load(info["base"] if lora else str(model_dir), device="cpu", dtype=dtype or p.model.dtype,
                                adapter=str(model_dir) if lora else None)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    example_q = {"id": "example", "question": "<question>", "choices": ["<option A>", "<option B>"], "answer": 0}
    example = fmt.prompt(example_q, tok, ud=True, labels=binner["labels"])
    io.write_json(out / "ud_labels.json", {"labels": binner["labels"], "edges": binner["edges"],
                                           "prompt": p.prompt.model_dump(), "instruction": p.annotate.instruction,
                                           "base": info["base"], "example_prompt": example})
    metrics = io.read_json(metrics_dir / "ud.json") if (metrics_dir / "ud.json").exists() else None
    rel_file = metrics_dir / "plots" / "ud_reliability.json"
    reliability = io.read_json(rel_file) if rel_file.exists() else None
    figure = metrics_dir / "plots" / "reliability.png"
    if figure.exists():
        shutil.copy(figure, out / "reliability.png")
    (out / "README.md").write_text(model_card(info, p, binner, metrics, reliability, example, figure.exists()))
    return out


def load_exported(path: str | Path):
    """(model, tokenizer) of an exported folder, with plain transformers only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok

