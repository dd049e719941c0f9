"""The paper's baselines on a tiny model: each asserts values, not only that something ran."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ud.baselines import lexical, pik, ptrue, semantic
from ud.baselines.greedy import answer_questions
from ud.baselines.lexical import mean_token_probability
from ud.baselines.pik import Probe
from ud.baselines.semantic import cluster_answer
from ud.data.prompts import Format
from ud.engines.hf import HFBackend
from ud.method.binning import Binner
from ud.metrics.scores import auroc, score_probabilities


def test_greedy_answers_carry_raw_token_logprobs(tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    recs, feats = answer_questions(b, fmt, questions[:3], constrain=True, max_new_tokens=16, batch_size=2)
    assert feats is None  # no layer asked: no features
    for q, r in zip(questions, recs):
        assert r["answer_key"] is not None  # constrained: always an option
        assert r["correct"] == (r["answer_key"] == q["answer"])
        p_ids = tok(fmt.prompt(q), return_tensors="pt")["input_ids"]
        ids = torch.cat([p_ids, torch.tensor([r["token_ids"]])], dim=1)
        with torch.no_grad():
            lsm = torch.log_softmax(model(ids).logits.float(), dim=-1)[0]
        ref = [float(lsm[p_ids.shape[1] - 1 + j, t]) for j, t in enumerate(r["token_ids"])]
        assert r["token_logprobs"] == pytest.approx(ref, abs=1e-4)
        assert mean_token_probability(r) == pytest.approx(float(np.mean(np.exp(ref))), abs=1e-5)


def test_answer_features_are_the_hidden_state_at_the_answers_last_token(tiny, questions):
    """Taken from the decoding passes themselves (no extra pass), they equal a full pass over prompt + answer; also
    for an answer cut by max_new_tokens (whose last token the decoding never fed)."""
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    for constrain, max_new in ((True, 16), (False, 3)):
        recs, feats = answer_questions(b, fmt, questions[:3], constrain=constrain, max_new_tokens=max_new,
                                       batch_size=3, layer=-1)
        assert feats.shape == (3, model.config.hidden_size)
        for q, r, f in zip(questions, recs, feats):
            ids = tok(fmt.prompt(q))["input_ids"] + [t for t in r["token_ids"] if t != tok.eos_token_id]
            with torch.no_grad():
                h = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0, -1]
            assert np.allclose(f, h.numpy(), atol=1e-5)
    assert any(r["n_tokens"] == 3 and r["token_ids"][-1] != tok.eos_token_id for r in recs)  # the cut case ran


def test_lexical_calibrates_on_calibration_and_scores_test():
    rng = np.random.default_rng(0)

    def recs(n):
        out = []
        for i in range(n):
            p = rng.uniform(0.05, 0.95)
            out.append({"qid": f"q{i}", "token_logprobs": [float(np.log(p))], "correct": bool(rng.uniform() < p),
                        "answer_key": 0, "n_tokens": 1})
        return out

    cal, test = recs(400), recs(200)
    calibrator = lexical.fit(cal)
    scored = lexical.score(calibrator, test)
    m, rel = score_probabilities("lexical", scored, Binner.fixed(5))
    raw = [mean_token_probability(r) for r in test]
    assert [r["raw"] for r in scored] == pytest.approx(raw)
    assert m["auroc_raw"] == pytest.approx(auroc(raw, [r["correct"] for r in test]))
    assert m["auroc_raw"] > 0.65 and m["auroc"] > 0.6  # the score is informative by construction
    assert np.all(np.diff(calibrator(np.linspace(0, 1, 11))) >= 0)  # isotonic: monotone
    assert sum(r["count"] for r in rel) == 200 and m["ece_continuous"] < 0.15
    assert m["cost"] == {"samples_per_answer": 1.0, "generated_tokens_per_answer": 1.0,
                         "extra_forward_passes_per_answer": 0.0}


def test_ptrue_reads_the_probability_of_the_true_option(tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    q = questions[0]
    prompt = ptrue.shots_text([(questions[1], "x", True), (questions[2], "y", False)]) + ptrue.block(q, "42")
    assert prompt.count("(A) True") == 3 and prompt.rstrip().endswith("The proposed answer is:")
    assert " (A)\n\n" in prompt and " (B)\n\n" in prompt  # the shots carry their verdicts
    a, bb = ptrue.option_token_ids(b)
    ids = tok(prompt + " (", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
    expected = float(torch.softmax(logits[[a, bb]], dim=0)[0])
    assert ptrue.p_true(b, [prompt])[0] == pytest.approx(expected, abs=1e-6)
    assert tok.decode([a]).strip() == "A" and tok.decode([bb]).strip() == "B"


def test_ptrue_shared_prefix_equals_full_passes(tiny, questions):
    """The few-shot prefix's KV, computed once (without autograd) and shared by a right-padded batch, gives each
    prompt's full-pass score; prompts whose tokens do not extend the prefix's fall back to full passes."""
    model, tok = tiny
    b = HFBackend(model, tok)
    examples = [(questions[1], "x", True), (questions[2], "y", False)]
    shots = ptrue.shots_text(examples)
    prompts = [shots + ptrue.block(q, ans) for q, ans in zip(questions, ["42", "a much longer proposed answer", "7"])]
    full = [ptrue.p_true(b, [p])[0] for p in prompts]
    prefix = ptrue.prefix_ids(b, shots)
    assert all(tok(p + " (")["input_ids"][: len(prefix)] == prefix for p in prompts)  # the shared path is taken
    assert ptrue.p_true(b, prompts, prefix) == pytest.approx(full, abs=1e-5)
    keys, _ = b._prefix_memo[1][0]
    assert not keys.requires_grad  # the prefix pass runs without autograd: no graph is kept
    other = ptrue.prefix_ids(b, "Something else entirely.")
    assert ptrue.p_true(b, prompts, other) == pytest.approx(full, abs=1e-5)  # not covered: full passes
    greedy = [{"qid": q["id"], "text": t, "answer_key": None, "correct": i == 0, "n_tokens": 2}
              for i, (q, t) in enumerate(zip(questions, ["42", "a much longer proposed answer", "7"]))]
    # no option read from the answer: the judge sees its text (an option would be shown as "A) <option>")
    assert [ptrue.proposed(q, r) for q, r in zip(questions, greedy)] == ["42", "a much longer proposed answer", "7"]
    scored = ptrue.score(b, examples, questions[:3], greedy, batch_size=2)
    assert [r["confidence"] for r in scored] == pytest.approx(full, abs=1e-5)
    assert [r["correct"] for r in scored] == [True, False, False]
    assert all(r["extra_forward_passes"] == 1 and r["generated_tokens"] == 2 and "seconds" not in r for r in scored)


def test_ptrue_judges_an_answer_it_can_read(questions):
    q = next(q for q in questions if q.get("choices"))
    record = {"qid": q["id"], "text": "<answer>B</answer>", "answer_key": 1}
    text = ptrue.block(q, ptrue.proposed(q, record))
    options = "\n".join(f"{letter}) {c}" for letter, c in zip("ABCDEFGH", q["choices"]))
    assert f"Question: {q['question'].strip()}\n{options}\nProposed Answer: B) {q['choices'][1]}\n" in text
    shots = ptrue.fit({q["id"]: q}, [dict(record, correct=True)], 1, seed=0)
    assert shots == [(q, f"B) {q['choices'][1]}", True)]


def test_ptrue_shots_are_balanced_and_exclude_invalid_answers(questions):
    cal = [{"qid": q["id"], "text": "t", "correct": i % 3 == 0, "answer_key": None if i == 1 else 0}
           for i, q in enumerate(questions)]
    shots = ptrue.fit({q["id"]: q for q in questions}, cal, 4, seed=0)
    assert sorted(ok for _, _, ok in shots) == [False, False, True, True]
    assert questions[1] not in [q for q, _, _ in shots]  # no readable answer: not a "False" example
    assert shots == ptrue.fit({q["id"]: q for q in questions}, cal, 4, seed=0)


def test_pik_probe_learns_correctness_encoded_in_hidden_states():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 32))
    y = (x[:, 3] + 0.3 * rng.normal(size=600)) > 0  # one direction of the hidden state encodes correctness
    probe = Probe.fit(x[:400], y[:400], c=1.0)
    p = probe(x[400:])
    assert auroc(p, y[400:]) > 0.9
    again = Probe.from_json(probe.to_json())
    assert np.allclose(again(x[400:]), p)
    noise = Probe.fit(x[:400], rng.uniform(size=400) < 0.5, c=1.0)
    assert abs(auroc(noise(x[400:]), y[400:]) - 0.5) < 0.15  # no signal, no skill
    recs = [{"qid": str(i), "answer_key": 0, "correct": bool(c), "n_tokens": 3} for i, c in enumerate(y)]
    scored = pik.score(pik.fit(x[:400], recs[:400], c=1.0), x[400:], recs[400:])
    assert [r["confidence"] for r in scored] == pytest.approx(p.tolist())
    assert scored[0]["extra_forward_passes"] == 1 and "seconds" not in scored[0]
    cv = Probe.fit(x[:400], y[:400])  # the default picks C by cross-validation
    assert 1e-5 <= cv.c <= 10 and auroc(cv(x[400:]), y[400:]) > 0.9 and cv.to_json()["C"] == cv.c
    const = Probe.fit(x[:10], [False] * 10)  # never right: a constant probe, flagged, not a crash
    assert const.to_json()["degenerate"] and np.allclose(const(x[400:]), 1e-3)


def test_semantic_clustering_share_equals_the_hand_count(questions):
    q = questions[0]  # choices ["blue", "green", "red", "black"], answer "blue"
    texts = [" green", " green", "green", " red", "<answer>green</answer>", " nonsense", " blue", " green"]
    samples = [{"k": k, "text": t} for k, t in enumerate(texts)]
    r = cluster_answer(q, samples, 8, require_tags=False)
    assert (r["answer_key"], r["share"], r["correct"]) == (1, 5 / 8, False)  # invalid counts in K
    r4 = cluster_answer(q, samples, 4, require_tags=False)
    assert r4["share"] == 3 / 4
    tie = cluster_answer(q, [{"k": 0, "text": " red"}, {"k": 1, "text": " blue"}], 2, require_tags=False)
    assert (tie["answer_key"], tie["share"], tie["correct"]) == (0, 0.5, True)  # tie -> lower option
    none = cluster_answer(q, [{"k": 0, "text": " nonsense"}], 1, require_tags=False)
    assert none["answer_key"] is None and none["correct"] is False
    with pytest.raises(ValueError):
        cluster_answer(q, samples, 9, require_tags=False)


def test_semantic_records_carry_k_and_the_cost_of_k_samples(questions):
    q = questions[0]
    samples = {q["id"]: [{"k": k, "text": t} for k, t in enumerate([" blue", " blue", " red", " blue"])]}
    [r2] = semantic.score([dict(q, set="test")], samples, 2, False, tokens_per_sample=3.0)
    [r4] = semantic.score([q], samples, 4, False, tokens_per_sample=3.0)
    assert (r2["set"], r2["k"], r2["confidence"], r2["correct"], r2["samples"], r2["generated_tokens"]) == \
        ("test", 2, 1.0, True, 2, 6.0)
    assert (r4["confidence"], r4["generated_tokens"], r4["answer_key"]) == (0.75, 12.0, 0)


def test_ptrue_shows_the_brainstormed_samples_before_the_proposed_answer(questions):
    q = questions[0]
    text = ptrue.block(q, "blue", ideas=[" blue", "red ", "blue"])
    assert text.startswith("Question: What color is the sky on a clear day?\nA) blue\nB) green\nC) red\nD) black\n"
                           "Here are some brainstormed ideas:\nblue\nred\nblue\nProposed Answer: blue\n")
    assert ptrue.block(q, "blue") == ptrue.block(q, "blue", ideas=[])  # 0 samples: the plain prompt
    assert "brainstormed" not in ptrue.block(q, "blue")


def test_semantic_clustering_merges_open_answers_pairwise_like_the_teacher():
    q = {"id": "o/1", "question": "Who?", "choices": None, "answer": "Paris", "answers": None}
    samples = [{"k": k, "text": t} for k, t in enumerate([" Paris", " paris!", " Lutetia", " Rome"])]
    plain = cluster_answer(q, samples, 4, False)
    assert (plain["answer_key"], plain["share"], plain["correct"]) == ("text:paris", 0.5, True)

    def merge(question, spans):  # a pairwise method that knows Lutetia is Paris
        return [0 if s.strip(" !").lower() in ("paris", "lutetia") else i + 1 for i, s in enumerate(spans)]

    merged = cluster_answer(q, samples, 4, False, merge=merge)
    assert (merged["share"], merged["correct"]) == (0.75, True)
