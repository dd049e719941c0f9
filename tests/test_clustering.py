"""Pairwise clustering of open answers: NLI (tiny random sequence classifier) and LLM judge (fake backend)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ud.engines.base import Engine
from ud.method.clustering import JudgeClusterer, NLIClusterer, as_claim, greedy_clusters
from ud.method.normalize import answer_set_open

Q = {"id": "q/1", "question": "How many?", "choices": None, "answer": "18", "answers": None}


def _number(claim: str) -> str:
    return claim.replace("The correct answer is ", "").strip().lower()


def test_greedy_clusters_compare_to_gold_first_then_to_clusters():
    same = {("18", "eighteen"), ("eighteen", "18"), ("17", "seventeen"), ("seventeen", "17")}

    def equivalent(a, b):
        a, b = _number(a), _number(b)
        return a == b or (a, b) in same

    assert greedy_clusters(Q, ["eighteen", "17", "seventeen", "5", "18"], equivalent) == [0, 1, 1, 2, 0]


@pytest.fixture(scope="module")
def tiny_nli(tiny_nli_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(tiny_nli_dir), AutoTokenizer.from_pretrained(tiny_nli_dir)


def test_nli_reads_labels_from_config_and_applies_each_rule(tiny_nli):
    model, tok = tiny_nli
    nli = NLIClusterer("tiny", model=model, tokenizer=tok)
    assert (nli.contradiction, nli.entailment) == (0, 2)
    got = nli.labels([("a b", "c"), ("x", "y z w")])
    assert len(got) == 2 and set(got) <= {0, 1, 2} and nli.calls == 2  # the real forward pass runs

    verdicts = {("The correct answer is 18", "The correct answer is 18.0"): 2,
                ("The correct answer is 18.0", "The correct answer is 18"): 1,  # neutral one way
                ("The correct answer is 5", "The correct answer is 18"): 0}
    nli.labels = lambda pairs: [verdicts.get(p, 1) for p in pairs]
    # paper rule: equivalent unless a direction contradicts -> 18.0 joins gold; 5 contradicts gold one way
    assert nli(Q, ["18.0", "5"]) == [0, 1]
    strict = NLIClusterer("tiny", rule="entailment", model=model, tokenizer=tok)
    strict.labels = nli.labels
    assert strict(Q, ["18.0", "5"]) == [1, 2]  # entailment both ways is required
    with pytest.raises(ValueError, match="rule"):
        NLIClusterer("tiny", rule="maybe", model=model, tokenizer=tok)


def test_nli_without_contradiction_label_is_a_clear_error(tiny_nli):
    model, tok = tiny_nli
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    with pytest.raises(ValueError, match="no contradiction/entailment"):
        NLIClusterer("tiny", model=model, tokenizer=tok)
    model.config.id2label = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}


class FakeJudge(Engine):
    def __init__(self):
        super().__init__(None, chat=False)
        self.prompts = []

    def greedy(self, requests, **kw):
        self.prompts.extend(r.prompt for r in requests)
        p = requests[0].prompt
        a = p.split("Possible Answer 1: ")[1].split("\n")[0]
        b = p.split("Possible Answer 2: ")[1].split("\n")[0]
        same = _number(a).strip(".$") == _number(b).strip(".$")
        return [SimpleNamespace(text=" Equivalent" if same else " contradictory.")]


def test_judge_uses_the_e3_prompt_and_caches_decisions(tmp_path):
    cache = tmp_path / "judge.jsonl"
    j = JudgeClusterer(FakeJudge(), "judge-a", cache)
    assert j(Q, ["$18", "17", "17."]) == [0, 1, 1]
    assert j.calls == 4 and "Respond only with 'equivalent' or 'contradictory'." in j.backend.prompts[0]
    assert "We are evaluating answers to the question How many?" in j.backend.prompts[0]
    again = JudgeClusterer(FakeJudge(), "judge-a", cache)
    assert again(Q, ["$18", "17", "17."]) == [0, 1, 1] and again.calls == 0  # all from the cache
    other = JudgeClusterer(FakeJudge(), "judge-b", cache)  # another judge model decides for itself
    assert other(Q, ["$18", "17", "17."]) == [0, 1, 1] and other.calls == 4
    with open(cache, "a") as fh:
        fh.write('{"key": "cut')  # a last line cut by a killed run is decided again, not fatal
    assert JudgeClusterer(FakeJudge(), "judge-a", cache)(Q, ["$18"]) == [0]
    with open(cache, "a") as fh:
        fh.write('\n{"key": "x", "equivalent": true}\n')  # ... but a cut line in the middle is damage
    from ud.errors import DataError

    with pytest.raises(DataError, match="judge.jsonl:9: not valid JSON"):
        JudgeClusterer(FakeJudge(), "judge-a", cache)


def test_merge_joins_key_clusters_and_keeps_correctness():
    samples = [{"k": k, "text": t} for k, t in enumerate([" 18", " XVIII", " 17", " XVIII", " seventeen"])]

    def merge(q, spans):  # roman numerals are beyond the key normalizers: a pairwise method joins them
        return greedy_clusters(q, spans, lambda a, b: _number(a).replace("xviii", "18") == _number(b))

    plain = answer_set_open(Q, samples, 5, False)
    merged = answer_set_open(Q, samples, 5, False, merge=merge)
    assert [c["count"] for c in plain["classes"]] == [2, 2, 1]  # 17 (x2), xviii (x2), 18
    top = merged["classes"][0]
    assert (top["count"], top["correct"], top["f"]) == (3, True, 0.6)
    assert [c["count"] for c in merged["classes"]] == [3, 2]
    assert as_claim(" 18 ") == "The correct answer is 18"


def test_embedding_prefilter_only_rules_pairs_out(tiny_model_dir, tiny_nli):
    from ud.method.clustering import Prefilter

    pre = Prefilter(tiny_model_dir, threshold=0.999)
    assert pre.maybe_same("The correct answer is 5", "The correct answer is 5")  # cosine 1
    assert pre.embed("x").shape == pre.embed("y z").shape and abs(float(pre.embed("x").norm()) - 1) < 1e-5
    model, tok = tiny_nli
    nli = NLIClusterer("tiny", model=model, tokenizer=tok, prefilter=Prefilter(tiny_model_dir, threshold=1.01))
    nli.labels = lambda pairs: [2 for _ in pairs]  # NLI would say "entailment" to everything ...
    assert nli(Q, ["5", "6"]) == [1, 2] and nli.calls == 0  # ... but the prefilter rules every pair out first
