"""Where every artifact lives (the same paths as dvc.yaml), and the evaluation sets.

An evaluation set is the scored split (param `scored`: "test", or "validation" while choosing knobs) or a
domain-shift dataset (its name): every method scores every set it runs on, and each answer record carries its `set`.
Domain shift is scored only with the test split, so no choice made on validation ever looks at a shift set.
"""

from __future__ import annotations

from pathlib import Path

from ud.records import QUESTIONS, Question

SPLITS_DIR = Path("data/splits")
SHIFT_DIR = SPLITS_DIR / "shift"  # one file per domain-shift dataset: <name>.jsonl
SAMPLES_DIR = Path("data/samples")
SAMPLE_CACHE = Path("data/cache/samples")  # git-ignored, not a DVC output: `dvc repro` never deletes it
ANSWERS_DIR = Path("data/answers")
SFT_FILE = Path("data/sft/train.jsonl")
EVAL_DIR = Path("data/eval")  # every method's answer records: <method>.jsonl
GREEDY_DIR = Path("data/greedy")
CALIBRATOR = Path("models/calibrator.json")
BINNER = Path("models/binner.json")
UD_MODEL = Path("models/ud")
PIK_PROBE = Path("models/pik_probe.json")
LEXICAL_CALIBRATOR = Path("models/lexical_calibrator.json")
METRICS = Path("metrics")
PLOTS = Path("metrics/plots")


def split_file(split: str) -> Path:
    return SPLITS_DIR / f"{split}.jsonl"


def shift_file(dataset: str) -> Path:
    return SHIFT_DIR / f"{set_name(dataset)}.jsonl"


def set_name(dataset: str) -> str:
    """A dataset's name as a file and set name ("mmlu:anatomy" -> "mmlu_anatomy")."""
    return dataset.replace(":", "_")


def samples_file(split: str) -> Path:
    return SAMPLES_DIR / f"{split}.jsonl.gz"


def samples_meta(split: str) -> Path:
    return SAMPLES_DIR / f"{split}.meta.json"


def answers_file(split: str) -> Path:
    return ANSWERS_DIR / f"{split}.jsonl"


def eval_file(method: str) -> Path:
    return EVAL_DIR / f"{method}.jsonl"


def greedy_file(split: str) -> Path:
    return GREEDY_DIR / f"{split}.jsonl"


def features_file(split: str) -> Path:
    return GREEDY_DIR / f"{split}.features.safetensors"


def questions(split: str) -> list[Question]:
    return QUESTIONS.read(split_file(split))


def eval_sets(scored: str, shift: bool = True) -> list[tuple[str, list[Question]]]:
    """(set name, questions each tagged with its set) of the scored split and, when `shift` and the scored split is
    test, every domain-shift dataset the prepare stage wrote (data/splits/shift/ holds exactly those of
    shift.datasets)."""
    sets = [(scored, questions(scored))]
    if shift and scored == "test":
        sets += [(f.stem, QUESTIONS.read(f)) for f in sorted(SHIFT_DIR.glob("*.jsonl"))]
    return [(name, [dict(q, set=name) for q in qs]) for name, qs in sets]
