"""`ud mix`: a dataset folder for `data.source: jsonl` whose splits are the params' own splits with questions from
other datasets added: calibration drawn from more than one source, or a held-out source scored beside the in-domain
validation questions (a shift measured on validation-side data, never on a shift set).

The folder holds calibration.jsonl, validation.jsonl and test.jsonl in the question schema (ids and sources kept)
and mix.json (what was added, counts per split and source). Each split starts as exactly the questions `prepare`
draws with the current params; an added question whose text is already in any split is skipped, and no dataset of
`shift.datasets` may be added (a shift set stays unseen). Point a run at it with the settings `ud mix` prints
(`data.source=jsonl`, `data.dataset=<folder>`, each split drawn whole from its own file).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

from ud.data import sources
from ud.errors import ParamError
from ud.records import QUESTIONS

SPLITS = ("calibration", "validation", "test")
_ADD = re.compile(r"^(?P<dataset>[^@=]+)(?:@(?P<split>[^@=]+))?=(?P<n>\d+)$")


def parse(spec: str, default_split: str) -> tuple[str, str, int]:
    """'csqa=150' -> ('csqa', default_split, 150); 'mmlu@validation=400' -> ('mmlu', 'validation', 400) (a jsonl
    dataset is a path, so the split follows an @)."""
    m = _ADD.match(spec.strip())
    if not m:
        raise ParamError(f"{spec!r}: expected DATASET=N or DATASET@SPLIT=N")
    return m["dataset"], m["split"] or default_split, int(m["n"])


def dataset_of(source: str) -> str:
    """The dataset of a question's source or of a dataset name ('mmlu:anatomy' -> 'mmlu')."""
    return source.split(":")[0]


def _key(q: dict) -> str:
    return " ".join(q["question"].split()).lower()  # the text key make_splits keeps each question in one split by


def build(p, additions: dict[str, list[tuple[str, str, int]]]) -> dict[str, list[dict]]:
    """The params' splits (as `prepare` draws them) with `additions` ({split: [(dataset, source split, n)]}) added,
    each addition a seeded draw of questions whose text no split has yet."""
    banned = set(p.shift.datasets)
    for split, adds in additions.items():
        if split not in SPLITS:
            raise ParamError(f"split {split!r}: expected one of {SPLITS}")
        for dataset, _, _ in adds:
            if dataset_of(dataset) in banned:
                raise ParamError(f"{dataset} is a shift set (shift.datasets): adding it to {split} would train on or "
                                 "choose by the data the shift rows must not have seen")
    splits = sources.make_splits(p.data.source, p.data.dataset, p.prepare.model_dump(by_alias=True), p.seed)
    seen = {_key(q) for qs in splits.values() for q in qs}
    for split, adds in additions.items():
        for dataset, src, n in adds:
            pool = sources.load_questions(p.data.source, dataset, src)
            random.Random(f"{p.seed}:mix:{dataset}:{src}").shuffle(pool)
            picked = []
            for q in pool:
                if len(picked) == n:
                    break
                if _key(q) not in seen:
                    seen.add(_key(q))
                    picked.append(dict(q, split=split))
            if len(picked) < n:
                raise ParamError(f"{dataset}/{src}={n}: only {len(picked)} of its {len(pool)} questions are not "
                                 "already in a split")
            splits[split] = splits[split] + picked
    return splits


def write(out: Path, splits: dict[str, list[dict]], additions: dict, p) -> dict:
    """The folder (one .jsonl per split, mix.json); returns mix.json's content. An existing folder is rewritten
    only with the same questions: `prepare` tracks `data.dataset` as a param, not the folder's files, so other
    questions under the same name would leave the runs that read it stale."""
    fields = ("id", "source", "question", "choices", "answer", "answers")
    text = {split: "".join(json.dumps(QUESTIONS.check({k: q.get(k) for k in fields}, f"{split} question {q.get('id')}"),
                                      ensure_ascii=False) + "\n" for q in qs)
            for split, qs in splits.items()}
    for split, content in text.items():
        old = out / f"{split}.jsonl"
        if old.exists() and old.read_text(encoding="utf-8") != content:
            raise ParamError(f"{out} holds other questions ({old.name} differs): write the new mix to another folder "
                             "(prepare would not see the change under the same data.dataset)")
    out.mkdir(parents=True, exist_ok=True)
    for split, content in text.items():
        (out / f"{split}.jsonl").write_text(content, encoding="utf-8")
    manifest = {"base": {"source": p.data.source, "dataset": p.data.dataset, "seed": p.seed,
                         "prepare": p.prepare.model_dump(by_alias=True)},
                "added": {s: [{"dataset": d, "from": src, "questions": n} for d, src, n in adds]
                          for s, adds in additions.items() if adds},
                "questions": {s: dict(Counter(dataset_of(q["source"]) for q in qs))
                              for s, qs in splits.items()}}
    (out / "mix.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def settings(out: Path, splits: dict[str, list[dict]], p) -> list[str]:
    """The `-S` settings that make a run draw each split whole from the folder (test drawn from `test.jsonl`)."""
    s = ["data.source=jsonl", f"data.dataset={out}"]
    for split in ("calibration", "validation"):
        s += [f"prepare.{split}.from={split}", f"prepare.{split}.questions={len(splits[split])}"]
    if p.prepare.test.from_ != "test" or p.prepare.test.questions != len(splits["test"]):
        # a sweep may not set prepare.test (it never looks at test): then write params.yaml by hand
        s += ["prepare.test.from=test", f"prepare.test.questions={len(splits['test'])}"]
    return s
