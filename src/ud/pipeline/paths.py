"""Artifact paths shared by the stages (they match dvc.yaml), and small readers for them."""

from __future__ import annotations

from pathlib import Path

from ud import io

SPLITS_DIR = Path("data/splits")
SAMPLES_DIR = Path("data/samples")
ANSWERS_DIR = Path("data/answers")
SFT_FILE = Path("data/sft/train.jsonl")
EVAL_DIR = Path("data/eval")
GREEDY_DIR = Path("data/greedy")
SHIFT_DIR = Path("data/shift")
CALIBRATOR = Path("models/calibrator.json")
BINNER = Path("models/binner.json")
UD_MODEL = Path("models/ud")
PIK_PROBE = Path("models/pik_probe.json")
LEXICAL_CALIBRATOR = Path("models/lexical_calibrator.json")
METRICS = Path("metrics")
PLOTS = Path("metrics/plots")


def split_file(split: str) -> Path:
    return SPLITS_DIR / f"{split}.jsonl"


def samples_file(split: str) -> Path:
    return SAMPLES_DIR / f"{split}.jsonl.gz"


def samples_meta(split: str) -> Path:
    return SAMPLES_DIR / f"{split}.meta.json"


def answers_file(split: str) -> Path:
    return ANSWERS_DIR / f"{split}.jsonl"


def greedy_file(split: str) -> Path:
    return GREEDY_DIR / f"{split}.jsonl"


def features_file(split: str) -> Path:
    return GREEDY_DIR / f"{split}.features.safetensors"


def shift_questions(dataset: str) -> list[dict]:
    return list(io.read_jsonl(SHIFT_DIR / dataset.replace(":", "_") / "test.jsonl"))


def questions(split: str) -> list[dict]:
    return list(io.read_jsonl(split_file(split)))


def labels_param(p: dict) -> list[str] | None:
    return p["annotate"]["labels"]


def write_method(method: str, metrics: dict, rel: list[dict], preds: list[dict] | None = None) -> None:
    io.write_json(METRICS / f"{method}.json", metrics)
    io.write_json(PLOTS / f"{method}_reliability.json", rel)
    if preds is not None:
        io.write_jsonl(EVAL_DIR / f"{method}.jsonl", preds)
    shown = {k: metrics[k] for k in ("n", "auroc", "accuracy", "high_acc", "high_pct", "ece", "invalid_rate")}
    print(f"{method}: {shown}")
