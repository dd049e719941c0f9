import random

import pytest

from ud.data.prompts import Format
from ud.method.annotate import build_examples, pick_classes, taught
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator

QS = {
    "q1": {"id": "q1", "question": "Sky?", "choices": ["blue", "red", "green", "pink"], "answer": 0},
    "q2": {"id": "q2", "question": "Ice?", "choices": ["hot", "cold", "warm"], "answer": 1},
    "q3": {"id": "q3", "question": "Sun?", "choices": ["star", "moon"], "answer": 0},
}


def _cls(i, f, correct):
    return {"key": "ABCD"[i], "index": i, "count": int(f * 10), "f": f, "correct": correct,
            "representative": "", "sample_ks": []}


SETS = [
    {"qid": "q1", "classes": [_cls(0, 0.5, True), _cls(1, 0.3, False), _cls(2, 0.1, False), _cls(3, 0.1, False)]},
    {"qid": "q2", "classes": [_cls(0, 0.7, False), _cls(2, 0.3, False)]},  # correct answer never sampled
    {"qid": "q3", "classes": [_cls(0, 1.0, True)]},
]


@pytest.mark.parametrize("k,expected", [(0, 2), (1, 4), (2, 6), (3, 7), (10, 7)])
def test_example_counts_with_k_incorrect(k, expected):
    ex = build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("qa"), k, "top", 0)
    assert len(ex) == expected
    assert sum(e["correct"] for e in ex) == 2  # every correct answer is kept
    per_q = {q: sum(1 for e in ex if e["qid"] == q and not e["correct"]) for q in QS}
    assert per_q == {"q1": min(k, 3), "q2": min(k, 2), "q3": 0}


def test_top_pick_takes_most_frequent_incorrect_and_labels_follow_bins():
    ex = build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("qa"), 1, "top", 0)
    q1 = [e for e in ex if e["qid"] == "q1"]
    assert [(e["index"], e["label"]) for e in q1] == [(0, "medium"), (1, "low")]
    assert q1[0]["prompt"].endswith("Additionally state how confident you are in your answer.\nAnswer:")
    assert q1[0]["completion"] == " blue\nConfidence: medium"
    assert [e["label"] for e in ex if e["qid"] == "q3"] == ["very high"]


@pytest.mark.parametrize("teach", ["all", "correct", "none"])
def test_an_untaught_answer_moves_into_the_prompt_so_only_its_label_is_in_the_loss(teach):
    """TRL puts the loss on the completion: an example whose answer is not taught ends its prompt with the answer and
    the confidence marker, and its completion is the label alone; the text the model sees is the same."""
    full = build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("qa"), 1, "top", 0)
    ex = build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("qa"), 1, "top", 0,
                        teach_answers=teach)
    assert [e["prompt"] + e["completion"] for e in ex] == [e["prompt"] + e["completion"] for e in full]
    taught_answer = ["\nConfidence:" in e["completion"] for e in ex]
    expected = {"all": [True] * len(ex), "none": [False] * len(ex), "correct": [e["correct"] for e in ex]}[teach]
    assert taught_answer == expected
    for e in ex:
        if "\nConfidence:" not in e["completion"]:
            assert e["prompt"].endswith("\nConfidence:") and e["completion"] == f" {e['label']}"
    with pytest.raises(ValueError, match="needs a plain prompt"):
        build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("reasoning", "letter"), 1, "top", 0,
                       teach_answers="correct")


def test_random_pick_is_seeded_subset():
    a = pick_classes(SETS[0], 2, "random", random.Random(3))
    b = pick_classes(SETS[0], 2, "random", random.Random(3))
    assert [c["index"] for c in a] == [c["index"] for c in b]
    assert a[0]["correct"] and len(a) == 3 and all(not c["correct"] for c in a[1:])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_quantile_bins_are_cut_over_exactly_the_classes_the_sft_set_teaches(seed):
    """annotate cuts quantile bins over `taught`: with random picks it must be the very classes annotated."""
    picked = [(aset["qid"], c["index"]) for aset, cs in taught(SETS, 1, "random", seed) for c in cs]
    ex = build_examples(QS, SETS, {}, Calibrator("none"), Binner.fixed(5), Format("qa"), 1, "random", seed)
    assert picked == [(e["qid"], e["index"]) for e in ex]
    assert len({tuple(x) for x in (
        [(a["qid"], c["index"]) for a, cs in taught(SETS, 1, "random", s) for c in cs] for s in range(8))}) > 1


def test_reasoning_trace_is_taken_from_that_answers_samples():
    sets = [{"qid": "q3", "classes": [dict(_cls(0, 1.0, True), sample_ks=[0, 1])]}]
    samples = {"q3": [{"k": 0, "text": "<reasoning>it shines</reasoning> <answer>A</answer>"},
                      {"k": 1, "text": "<reasoning>it shines</reasoning><answer>A</answer>"}]}
    fmt = Format("reasoning", "letter", reasoning=True)
    ex = build_examples(QS, sets, samples, Calibrator("none"), Binner.fixed(5), fmt, 0, "top", 0)
    assert ex[0]["completion"] == [{"role": "assistant", "content":
                                    "<reasoning>it shines</reasoning> <answer>A</answer> <confidence>very high</confidence>"}]
    assert ex[0]["prompt"][-1]["content"].startswith("Question: Sun?")


def test_overlong_examples_are_dropped_not_truncated(tiny):
    from ud.errors import DataError
    from ud.method.train import drop_overlong, example_length

    _, tok = tiny
    ex = [{"prompt": "Question: Sky?\nAnswer:", "completion": " blue\nConfidence: high"},
          {"prompt": "Question: " + "very " * 200 + "long?\nAnswer:", "completion": " no\nConfidence: low"}]
    short = example_length(ex[0], tok)
    assert drop_overlong(ex, tok, short) == ex[:1]
    with pytest.raises(DataError, match="raise train.max_length"):
        drop_overlong(ex, tok, short - 1)


def test_balance_teaches_every_label_equally_often_at_the_same_size():
    from collections import Counter

    from ud.method.annotate import balance

    ex = [{"qid": f"q{i}", "label": lab} for i, lab in enumerate(["low"] * 14 + ["high"] * 5 + ["medium"] * 1)]
    out = balance(ex, seed=3)
    assert len(out) == 20 and Counter(e["label"] for e in out) == {"low": 7, "high": 7, "medium": 6}
    assert len({e["qid"] for e in out if e["label"] == "low"}) == 7  # drawn without replacement while there are enough
    assert out == balance(ex, seed=3) and out != balance(ex, seed=4)
    assert balance([], seed=0) == []
