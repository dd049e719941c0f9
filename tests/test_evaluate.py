import gzip

import pytest
import torch

from ud import io
from ud.baselines import teacher
from ud.data.prompts import Format
from ud.engines.hf import HFBackend
from ud.errors import DataError
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator
from ud.method.evaluate import distilled_answers
from ud.params import EvaluateParams
from ud.metrics.scores import score_verbal
from ud.sampling.estimators import option_trie


def _aset(f_top, correct):
    return {"qid": "q", "classes": [{"key": "A", "f": f_top, "correct": correct}] if f_top is not None else []}


COST = {"samples": 20, "generated_tokens": 100, "extra_forward_passes": 0}


def test_teacher_uses_top_class_calibrated_and_binned():
    sets = [_aset(0.95, True), _aset(0.9, True), _aset(0.5, False), _aset(0.1, False), _aset(None, False)]
    recs = teacher.score(sets, Calibrator("none"), Binner.fixed(5), COST)
    m, rows = score_verbal("teacher", recs, Binner.fixed(5))
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(0.4)
    assert [r["count"] for r in rows] == [2, 0, 1, 0, 2]  # the all-invalid question sits in the lowest bin
    assert m["auroc"] == pytest.approx(1.0) and m["high_acc"] == 1.0 and m["high_pct"] == 40.0
    assert m["invalid_rate"] == pytest.approx(0.2) and m["cost"]["samples_per_answer"] == 20
    assert m["auroc_raw"] == pytest.approx(1.0)  # the frequency itself, before binning


def test_unknown_calibrator_method_is_an_error_not_the_identity():
    with pytest.raises(DataError, match="unknown calibrator method 'isotonik'"):
        Calibrator.from_json({"method": "isotonik", "state": {}})


def test_constrained_prediction_is_always_an_option_and_a_label(tiny, questions):
    model, tok = tiny
    labels = Binner.fixed(5).labels
    preds = distilled_answers(HFBackend(model, tok), Format("qa"), questions[:6], Binner.fixed(5),
                              EvaluateParams(constrain=True, max_new_tokens=40, batch_size=4))
    assert len(preds) == 6
    for p, q in zip(preds, questions):
        assert p["answer_key"] is not None and p["label"] in labels
        assert p["text"] == f" {q['choices'][p['answer_key']]}\nConfidence: {p['label']}"
        assert p["correct"] == (p["answer_key"] == q["answer"])
    m, _ = score_verbal("ud", preds, Binner.fixed(5))
    assert m["invalid_rate"] == 0.0 and m["confidence_invalid_rate"] == 0.0
    assert m["cost"]["generated_tokens_per_answer"] == pytest.approx(sum(p["generated_tokens"] for p in preds) / 6)


def test_unconstrained_random_model_output_is_counted_invalid(tiny, questions):
    model, tok = tiny
    preds = distilled_answers(HFBackend(model, tok, chat=True), Format("reasoning", "letter", True), questions[:3],
                              Binner.fixed(5), EvaluateParams(constrain=False, max_new_tokens=8))
    assert [p["answer_key"] for p in preds] == [None, None, None]  # no <answer> tags from a random model
    m, _ = score_verbal("x", preds, Binner.fixed(5))
    assert (m["invalid_rate"], m["confidence_invalid_rate"], m["accuracy"]) == (1.0, 1.0, 0.0)


def test_jsonl_roundtrip_atomic_and_reproducible_gzip(tmp_path):
    recs = [{"a": 1, "t": "é"}, {"a": 2}]
    f = tmp_path / "x.jsonl.gz"
    assert io.write_jsonl(f, recs) == 2
    first = f.read_bytes()
    io.write_jsonl(f, recs)
    assert f.read_bytes() == first  # no timestamp in the gzip header: stable DVC hashes
    assert list(io.read_jsonl(f)) == recs
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl.gz"]  # no temp files left behind
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="bad.jsonl:2: not valid JSON"):
        list(io.read_jsonl(bad))
    with pytest.raises(DataError, match="does not exist"):
        list(io.read_jsonl(tmp_path / "missing.jsonl"))
    assert gzip.decompress(first).decode().count("\n") == 2


def test_label_scoring_pass_is_read_from_the_prompt_kv_and_matches_a_full_pass(tiny, questions):
    """The scoring pass (unconstrained decoding's readout): at the confidence position each label is scored with
    what closes it, and the distribution equals the one a full forward pass of prompt + answer + label gives."""
    import math

    from ud.method.evaluate import label_distribution, label_start

    model, tok = tiny
    labels = Binner.fixed(5).labels
    fmt = Format("qa")
    b = HFBackend(model, tok)
    qs = questions[:3]
    prompts = [fmt.prompt(q, tok, ud=True, labels=labels) for q in qs]
    gens = b.walk_tries(prompts, [option_trie(b, fmt, q, labels)[0] for q in qs], 40)
    dists = label_distribution(b, fmt, prompts, gens, labels)
    for q, g, dist in zip(qs, gens, dists):
        prompt_ids = tok(fmt.prompt(q, ud=True, labels=labels))["input_ids"]
        answer = g.token_ids[: label_start(b, fmt, g.token_ids)]
        lps = []
        for lab in labels:
            tail = tok(f" {lab}", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            ids = prompt_ids + answer + tail
            with torch.no_grad():
                lsm = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
            start = len(prompt_ids) + len(answer)
            lps.append(sum(float(lsm[start - 1 + j, t]) for j, t in enumerate(tail)))
        z = sum(math.exp(v) for v in lps)
        assert dist == pytest.approx([math.exp(v) / z for v in lps], abs=1e-5)


@pytest.mark.parametrize("labels", [None, ["very low", "quite low", "quite high", "very high"]])
def test_the_label_distribution_is_the_constrained_decoders_and_costs_a_pass_only_off_the_decoded_path(
        tiny, questions, labels):
    """Word labels share a first token (" very" low / high): each label's probability is the product, over its
    path's choices, of the chosen token's probability renormalized over what the trie allowed -- as full forward
    passes of prompt + answer + label give it. A pass beyond the decoding's own is spent only where a label's path
    chooses again off the decoded one."""
    import math

    model, tok = tiny
    binner = Binner.fixed(5) if labels is None else Binner.fixed(len(labels), labels)
    fmt = Format("qa")
    b = HFBackend(model, tok)
    qs = questions[:6]
    preds = distilled_answers(b, fmt, qs, binner, EvaluateParams(max_new_tokens=40, batch_size=3))
    firsts = [b.encode_continuation(" " + lab)[0] for lab in binner.labels]
    for p, q in zip(preds, qs):
        trie, keys = option_trie(b, fmt, q, binner.labels)
        prompt_ids = tok(fmt.prompt(q, ud=True, labels=binner.labels))["input_ids"]
        want = []
        for j in range(len(binner.labels)):
            path = trie.sequences[keys.index((p["answer_key"], j))]
            with torch.no_grad():
                lsm = torch.log_softmax(model(torch.tensor([prompt_ids + path])).logits[0].float(), dim=-1)
            lp = 0.0
            for i, (t, allowed) in enumerate(trie.steps(keys.index((p["answer_key"], j)))):
                if len(allowed) > 1 and fmt.confidence_marker.lower() in b.decode(path[:i]).lower():
                    lp += float(torch.log_softmax(lsm[len(prompt_ids) + i - 1, allowed], 0)[allowed.index(t)])
            want.append(math.exp(lp))
        assert p["label_probs"] == pytest.approx(want, abs=1e-4)
        assert sum(p["label_probs"]) == pytest.approx(1.0)
        stated = b.encode_continuation(" " + p["label"])[0]  # a first token shared with another label off it: a pass
        assert p["extra_forward_passes"] == int(any(firsts.count(f) > 1 for f in firsts if f != stated))
        assert p["raw"] == pytest.approx(sum(w * m for w, m in zip(p["label_probs"], binner.midpoints)))
        assert p["bin_expected"] == int(binner.index([p["raw"]])[0]) and p["bin"] == p["bin_argmax"]
    expected = distilled_answers(b, fmt, qs, binner,
                                 EvaluateParams(max_new_tokens=40, batch_size=3, label_rule="expected"))
    assert [p["bin"] for p in expected] == [p["bin_expected"] for p in preds]
    assert [p["label"] for p in expected] == [binner.labels[p["bin_expected"]] for p in preds]


def test_verbal_metrics_report_both_label_rules_and_leave_unreadable_out_of_ece():
    recs = [{"qid": str(i), "answer_key": 0, "correct": c, "bin": b, "raw": r, "bin_argmax": b, "bin_expected": e,
             "confidence": None, "samples": 1, "generated_tokens": 3, "extra_forward_passes": 0}
            for i, (c, b, r, e) in enumerate([(True, 4, .8, 4), (True, 0, .7, 3), (False, 0, .2, 1), (False, None,
                                                                                                  None, None)])]
    m, rows = score_verbal("ud", recs, Binner.fixed(5))
    assert m["auroc_bin_expected"] == pytest.approx(1.0) and m["auroc_raw"] == pytest.approx(1.0)
    assert m["auroc_bin_argmax"] == pytest.approx(0.75)  # (2 right: 4, 0; 2 wrong: 0, None->lowest) -> 3/4
    assert m["confidence_invalid_rate"] == 0.25 and sum(r["count"] for r in rows) == 3  # the unreadable one is out
    # ECE over the three readable answers at the bins' midpoints: bin 4 (0.9, right), bin 0 (0.1: one right, one wrong)
    assert m["ece"] == pytest.approx(1 / 3 * abs(1 - 0.9) + 2 / 3 * abs(0.5 - 0.1))
    assert m["brier"] == pytest.approx(((0.9 - 1) ** 2 + (0.1 - 1) ** 2 + 0.1 ** 2) / 3)


def test_prompting_reads_the_answer_before_or_after_the_confidence(questions):
    from ud.baselines.prompting import prompting_format
    from ud.method.normalize import grade

    q = questions[0]  # answer: A (blue)
    PROMPTING_FORMAT = prompting_format(questions)
    for text in ("<reasoning>sky</reasoning> <answer>A</answer> <confidence>high</confidence>",
                 "<reasoning>sky</reasoning> <confidence>high</confidence> <answer>A</answer>"):
        answer, conf = PROMPTING_FORMAT.split_confidence(text)
        assert grade(answer, q, True)[0] == 0 and conf == "high"
    assert PROMPTING_FORMAT.stop_after() == ["</answer>", "</confidence>"]


def test_prompting_without_reasoning_asks_for_answer_and_confidence_only(questions, tiny_model_dir):
    from transformers import AutoTokenizer

    from ud.baselines.prompting import prompting_format

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with_r, without = prompting_format(questions), prompting_format(questions, reasoning=False)
    p_with, p_without = with_r.prompt(questions[0], tok, baseline=True), without.prompt(questions[0], tok, ud=True)
    assert "<reasoning>" in p_with and "7x6" in p_with  # E.1: the instruction and its worked example reason
    assert "reasoning" not in p_without and "7x6" not in p_without
    # the worked example shows the shape the answer must take: answer and confidence tags, nothing else
    assert "<answer>C</answer>" in p_without and "<confidence>" in p_without and "very high" in p_without
    assert "very low, low, medium, high, very high" in p_without
    answer, conf = without.split_confidence("<answer>A</answer> <confidence>low</confidence>")
    assert "A" in answer and conf == "low"


def test_prompting_on_open_questions_shows_no_multiple_choice_example():
    from ud.baselines.prompting import prompting_format

    q = {"id": "o", "question": "What is 4 * 8?", "choices": None, "answer": "32", "answers": None}
    fmt = prompting_format([q])
    messages = fmt.messages(q, baseline=True)
    assert len(messages) == 1 and "Lisa" not in messages[0]["content"]  # no worked example with options
    content = messages[0]["content"]
    assert "very low, low, medium, high, very high" in content and "What is 4 * 8?" in content
    answer, conf = fmt.split_confidence("32 <confidence>high</confidence>")
    assert "32" in answer and conf == "high"


def test_walking_the_trie_spends_a_pass_only_where_the_model_chooses(tiny, questions):
    """The distilled model's constrained generation equals token-by-token greedy decoding (HF generate, the
    reference), while the forward passes after the prefill are as many as the choices (plus one for the last
    forced tail's log-probs), not one per token."""
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    labels = Binner.fixed(5).labels
    qs = questions[:5]
    prompts = [fmt.prompt(q, tok, ud=True, labels=labels) for q in qs]
    tries = [option_trie(b, fmt, q, labels)[0] for q in qs]
    ref = [g[0] for g in b.generate(prompts, 1, do_sample=False, tries=tries, max_new_tokens=64)]
    calls = []
    hook = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        fast = b.walk_tries(prompts, tries, 64)
    finally:
        hook.remove()
    for f, r in zip(fast, ref):
        assert f.token_ids == r.token_ids and f.text == r.text and f.finish == "stop"
        assert f.token_logprobs == pytest.approx(r.token_logprobs, abs=1e-4)
    longest = max(len(g.token_ids) for g in fast)
    most_choices = max(len(g.branches) for g in fast)
    assert len(calls) <= 1 + most_choices + 1 < longest  # prefill, one pass per choice, the tail's scoring
    calls.clear()
    hook = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        bare = b.walk_tries(prompts, tries, 64, forced_logprobs=False)
    finally:
        hook.remove()
    for f, r in zip(bare, fast):  # without forced log-probs: the same decoding, the choices' log-probs only
        assert f.token_ids == r.token_ids and [p for p, _ in f.branches] == [p for p, _ in r.branches]
        for (_, got), (_, ref_choice) in zip(f.branches, r.branches):
            assert got == pytest.approx(ref_choice, abs=1e-4)
        chosen = {pos for pos, _ in r.branches}
        for j, (lp, ref_lp) in enumerate(zip(f.token_logprobs, r.token_logprobs)):
            if j in chosen or j == 0:
                assert lp == pytest.approx(ref_lp, abs=1e-4)
        assert any(lp != lp for lp in f.token_logprobs)  # forced tokens: NaN, never a made-up number
    assert len(calls) <= 1 + most_choices  # no pass for the last forced tail


def test_the_label_distribution_comes_from_the_decodings_own_choice(tiny, questions):
    """Labels with distinct first tokens: P(label) is the model's next-token distribution at the label's position,
    renormalized over the labels' first tokens -- no extra pass (extra_forward_passes 0)."""
    model, tok = tiny
    labels = ["0-40%", "40-70%", "70-100%"]
    binner = Binner([0.0, 0.4, 0.7, 1.0], labels)
    fmt = Format("qa")
    b = HFBackend(model, tok)
    firsts = [b.encode_continuation(fmt.completion(questions[0], 0, label=lab)) for lab in labels]
    preds = distilled_answers(b, fmt, questions[:3], binner, EvaluateParams(max_new_tokens=40, batch_size=3))
    for p, q in zip(preds, questions):
        assert p["extra_forward_passes"] == 0 and p["label_probs"] is not None
        option = p["answer_key"]
        paths = [b.encode_continuation(fmt.completion(q, option, label=lab)) for lab in labels]
        e = next(i for i in range(len(paths[0])) if len({tuple(pth[: i + 1]) for pth in paths}) == len(labels))
        ids = tok(fmt.prompt(q, ud=True, labels=labels), return_tensors="pt")["input_ids"]
        full = torch.cat([ids, torch.tensor([paths[0][:e]])], dim=1)
        with torch.no_grad():
            logits = model(full).logits[0, -1]
        want = torch.softmax(logits[[pth[e] for pth in paths]], dim=0).tolist()
        assert p["label_probs"] == pytest.approx(want, abs=1e-4)
    assert firsts  # the options' completions tokenize
