"""The records the stages hand each other: one type per artifact, read and written only through `ARTIFACTS`.

A record is a TypedDict: on disk one JSON line, in memory the dict that line parses to, so code reads `q["id"]`
and a type checker knows the fields. Each `Artifact` validates every record it reads or writes against its type
(pydantic), so a malformed record stops the stage with its file, line and field -- never a KeyError three stages
later -- and what is written is exactly the dict the code built (same bytes, same DVC hash).

    Question      data/splits/<split>.jsonl, data/splits/shift/<set>.jsonl           (stage prepare)
    Sample        data/samples/<split>.jsonl.gz: a decoded draw, or an exact record   (stage sample)
    AnswerSet     data/answers/<split>.jsonl: the normalized answers of a question    (stage normalize)
    GreedyAnswer  data/greedy/<part>.jsonl: the base model's greedy answer            (stages greedy_*)
    AnswerRecord  data/eval/<method>.jsonl: one method's answer and confidence        (every evaluated method)
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from ud import io
from ud.errors import DataError

Answer = int | float | str  # an option index (multiple choice) or the gold text / number (open answers)


class Question(TypedDict):
    id: str
    source: str
    question: str
    choices: list[str] | None  # None: an open-answer question
    answer: Answer
    answers: list[str] | None  # accepted aliases of an open answer
    split: NotRequired[str]
    set: NotRequired[str]  # the evaluation set (test or a shift dataset) where a stage mixes them


class Draw(TypedDict):
    """One decoded sample (estimators free, choices)."""
    qid: str
    k: int  # the sample index; its seed is stable_seed(run seed, qid, k)
    seed: int
    text: str
    n_tokens: int
    logprob_sum: float | None  # None: the engine gave no log-probs (said, not invented)
    logprob_mean: float | None
    finish: str  # "stop" | "length"


class ExactDraw(TypedDict):
    """The exact estimator's one record per question: the option distribution and each option's completion."""
    qid: str
    k: int
    seed: None
    probs: list[float]
    texts: list[str]
    logprob_sums: list[float]
    logprob_means: list[float]
    n_tokens: list[int]


Sample = Draw | ExactDraw


class AnswerClass(TypedDict):
    key: Any  # the equivalence key (an option index, a normalized number, a cluster's text)
    index: int | None  # the option index, for multiple choice
    count: int | float | None  # None: the exact estimator (f is the option's probability, nothing was counted)
    f: float  # count / n: the relative frequency (invalid samples in n)
    correct: bool
    representative: str


class AnswerSet(TypedDict):
    qid: str
    n: int | None  # samples read (None: exact, whose classes carry probabilities)
    invalid: int
    classes: list[AnswerClass]
    estimator: str  # "sampled" | "exact"


class GreedyAnswer(TypedDict):
    qid: str
    text: str
    answer_key: Any  # None: no readable answer
    correct: bool
    token_ids: list[int]
    token_logprobs: list[float]
    n_tokens: int
    set: NotRequired[str]


class AnswerRecord(TypedDict):
    """The common record every method writes (ud.metrics.scores reads only these fields; a method adds its own)."""
    qid: str
    answer_key: Any  # None: no readable answer, counted wrong
    correct: bool
    confidence: float | None  # a probability (continuous methods), or None (verbal methods, unreadable)
    raw: float | None  # the score before calibration
    bin: int | None  # the bin the method stated (verbal methods)
    samples: int | float | None  # what the answer cost
    generated_tokens: int | float | None
    extra_forward_passes: int | float | None
    set: NotRequired[str | None]


T = TypeVar("T")


def by_question(samples: list[Sample]) -> dict[str, list[Sample]]:
    """Sample records grouped by question id, in their order."""
    out: dict[str, list[Sample]] = defaultdict(list)
    for rec in samples:
        out[rec["qid"]].append(rec)
    return out


class Artifact(Generic[T]):
    """Reads and writes the JSON-lines files of one record type, checking every record."""

    def __init__(self, name: str, kind: Any):
        self.name = name
        self.adapter = TypeAdapter(kind)

    def check(self, record: dict, where: str) -> T:
        try:
            self.adapter.validate_python(record, strict=True)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(record)"
            raise DataError(f"{where}: not a {self.name} record: {field}: {err['msg']}") from None
        return record  # the dict as written: validation never rewrites a value

    def read(self, path: str | os.PathLike) -> list[T]:
        return [self.check(rec, f"{path}:{i}") for i, rec in enumerate(io.read_jsonl(path), 1)]

    def write(self, path: str | os.PathLike, records: Iterable[T]) -> int:
        return io.write_jsonl(path, (self.check(rec, f"{path} (record {i})") for i, rec in enumerate(records, 1)))


QUESTIONS: Artifact[Question] = Artifact("Question", Question)
SAMPLES: Artifact[Sample] = Artifact("Sample", Sample)
ANSWER_SETS: Artifact[AnswerSet] = Artifact("AnswerSet", AnswerSet)
GREEDY: Artifact[GreedyAnswer] = Artifact("GreedyAnswer", GreedyAnswer)
ANSWERS: Artifact[AnswerRecord] = Artifact("AnswerRecord", AnswerRecord)
