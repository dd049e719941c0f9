"""Records cross files only through ud.records: every one is checked, and what is written is the dict as built."""

import gzip
import json

import pytest

from ud import io
from ud.errors import DataError
from ud.records import ANSWER_SETS, ANSWERS, QUESTIONS, SAMPLES

DRAW = {"qid": "q1", "k": 0, "seed": 7, "text": "<answer>B</answer>", "n_tokens": 5, "logprob_sum": -2.0,
        "logprob_mean": -0.4, "finish": "stop"}
EXACT = {"qid": "q1", "k": 0, "seed": None, "probs": [0.7, 0.3], "texts": ["A", "B"], "logprob_sums": [-0.1, -1.2],
         "logprob_means": [-0.1, -1.2], "n_tokens": [1, 1]}


def test_written_records_are_the_dicts_as_built(tmp_path):
    path = tmp_path / "samples.jsonl.gz"
    assert SAMPLES.write(path, [DRAW, EXACT]) == 2
    lines = gzip.open(path, "rt").read().splitlines()
    assert lines == [json.dumps(DRAW), json.dumps(EXACT)]  # same keys, same order, nothing coerced
    assert SAMPLES.read(path) == [DRAW, EXACT]


@pytest.mark.parametrize("artifact, record, field", [
    (SAMPLES, {k: v for k, v in DRAW.items() if k != "finish"}, "finish"),
    (QUESTIONS, {"id": "q", "source": "s", "question": "?", "choices": "ABCD", "answer": 0, "answers": None},
     "choices"),
    (ANSWER_SETS, {"qid": "q", "n": 10, "invalid": 0, "estimator": "sampled",
                   "classes": [{"key": 1, "index": 1, "count": 3, "f": 0.3, "representative": "B"}]}, "correct"),
    (ANSWERS, {"qid": "q", "answer_key": 1, "correct": "yes", "confidence": 0.5, "raw": 0.5, "bin": None,
               "samples": 1, "generated_tokens": 3, "extra_forward_passes": 0}, "correct"),
])
def test_a_malformed_record_names_its_file_line_and_field(tmp_path, artifact, record, field):
    path = tmp_path / "bad.jsonl"
    io.write_jsonl(path, [record])
    with pytest.raises(DataError, match=rf"bad.jsonl:1: not a {artifact.name} record: .*{field}"):
        artifact.read(path)
    with pytest.raises(DataError, match=f"not a {artifact.name} record"):
        artifact.write(tmp_path / "out.jsonl", [record])
    assert not (tmp_path / "out.jsonl").exists()  # nothing half-written


def test_every_estimator_s_answer_set_is_a_valid_record(tmp_path):
    """The exact estimator's classes carry a probability and no count; a sampled one counts its draws."""
    from ud.method.normalize import answer_set_exact

    q = {"id": "q1", "source": "s", "question": "?", "choices": ["x", "y"], "answer": 0, "answers": None}
    exact = answer_set_exact(q, EXACT)
    assert [c["count"] for c in exact["classes"]] == [None, None] and exact["classes"][0]["f"] == 0.7
    sampled = {"qid": "q2", "n": 10, "invalid": 0, "estimator": "sampled", "classes": [
        {"key": 1, "index": 1, "count": 3, "f": 0.3, "correct": True, "representative": "B"}]}
    assert ANSWER_SETS.write(tmp_path / "a.jsonl", [exact, sampled]) == 2
    assert ANSWER_SETS.read(tmp_path / "a.jsonl") == [exact, sampled]
