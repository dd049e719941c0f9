"""The shared-prefix sampler and the resumable unit cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ud.data.prompts import Format
from ud.engines.base import SampleRequest, stable_seed
from ud.engines.hf import HFBackend
from ud.sampling.estimators import draw_unit, exact_record, option_trie
from ud import io
from ud.errors import DataError
from ud.records import SAMPLES
from ud.sampling.units import AdaptiveStop, ChunkStore, import_previous, run_units, wilson


def _counts(gens, q, fmt):
    texts = [fmt.completion(q, i) for i in range(len(q["choices"]))]
    c = np.zeros(len(texts))
    for g in gens:
        c[texts.index(g.text)] += 1
    return c


def test_shared_prefix_sampler_matches_exact_and_naive(tiny, questions):
    """Chi-square on 1,200 draws of each sampler: the shared-prefix sampler vs the exact trie probabilities and vs
    HF generate (the naive path); a sampler at the wrong temperature is rejected."""
    from scipy.stats import chi2_contingency, chisquare

    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    q = questions[0]
    trie, _ = option_trie(b, fmt, q)
    prompt = fmt.prompt(q)
    shared = b.sample([SampleRequest(prompt, [stable_seed(7, q["id"], k) for k in range(1200)], trie)],
                      temperature=1.3)[0]
    naive = [g for s in range(3) for g in b.generate([prompt], 400, temperature=1.3, tries=[trie], seed=s)[0]]
    cs, cn = _counts(shared, q, fmt), _counts(naive, q, fmt)
    probs = np.asarray(exact_record(b, fmt, q, prompt, temperature=1.3)["probs"])
    assert chisquare(cs, probs * cs.sum()).pvalue > 1e-3
    assert chi2_contingency(np.stack([cs, cn])).pvalue > 1e-3
    wrong = np.asarray(exact_record(b, fmt, q, prompt, temperature=0.3)["probs"])
    assert chisquare(cs, wrong * cs.sum()).pvalue < 1e-3
    biased = b.sample([SampleRequest(prompt, [stable_seed(7, q["id"], k) for k in range(1200)], trie)],
                      temperature=0.3)[0]
    assert chi2_contingency(np.stack([_counts(biased, q, fmt), cn])).pvalue < 1e-3


def test_a_sample_depends_on_its_seed_only(tiny, questions):
    """Same seed -> same tokens, whether drawn alone, with other seeds, or batched with other prompts."""
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    p0, p1 = fmt.prompt(questions[0]), fmt.prompt(questions[3])  # different lengths: left padding in the batch
    seeds = [11, 12, 13, 14]
    together = b.sample([SampleRequest(p0, seeds), SampleRequest(p1, [21, 22])], max_new_tokens=6, top_p=0.9)
    alone = b.sample([SampleRequest(p0, [13])], max_new_tokens=6, top_p=0.9)[0][0]
    assert together[0][2].token_ids == alone.token_ids
    assert together[0][2].logprob_sum == pytest.approx(alone.logprob_sum, abs=1e-4)
    other = b.sample([SampleRequest(p1, [22])], max_new_tokens=6, top_p=0.9)[0][0]
    assert together[1][1].token_ids == other.token_ids
    assert len({tuple(g.token_ids) for g in together[0]}) > 1  # different seeds do differ


def test_shared_sampler_logprobs_equal_a_teacher_forced_pass(tiny, questions):
    """Left-padded batch, warpers on: recorded log p must be the raw model's on the unpadded sequence."""
    model, tok = tiny
    b = HFBackend(model, tok)
    prompts = [Format("qa").prompt(questions[i]) for i in (0, 3)]
    gens = b.sample([SampleRequest(p, [1, 2]) for p in prompts], temperature=0.7, top_p=0.9, max_new_tokens=6)
    for prompt, gs in zip(prompts, gens):
        p_ids = tok(prompt, return_tensors="pt")["input_ids"]
        for g in gs:
            ids = torch.cat([p_ids, torch.tensor([g.token_ids])], dim=1)
            with torch.no_grad():
                lsm = torch.log_softmax(model(ids).logits.float(), dim=-1)[0]
            ref = sum(float(lsm[p_ids.shape[1] - 1 + j, t]) for j, t in enumerate(g.token_ids))
            assert g.logprob_sum == pytest.approx(ref, abs=1e-4)
            assert g.n_tokens == len(g.token_ids) <= 6


def test_rows_stop_on_their_own_stop_string(tagged_model_dir, questions):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tagged_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tagged_model_dir)
    b = HFBackend(model, tok, chat=True)
    fmt = Format("reasoning", "letter", reasoning=True)
    reqs = [SampleRequest(fmt.prompt(q, tok), [stable_seed(0, q["id"], k) for k in range(6)]) for q in questions[:2]]
    gens = [g for gs in b.sample(reqs, max_new_tokens=40, stop_strings=fmt.stop_strings()) for g in gs]
    by_stop = [g for g in gens if g.text.endswith("</answer>")]
    assert len(by_stop) >= 10  # the taught format: most rows end on the stop string
    for g in gens:  # each row ends exactly where it stopped: on the stop string, on EOS, or at the length limit
        ends = [g.text.endswith("</answer>"), g.token_ids[-1] == tok.eos_token_id, g.n_tokens == 40]
        assert sum(ends) == 1 and g.finish == ("length" if ends[2] else "stop")
        assert g.text.count("</answer>") == int(ends[0])  # nothing generated after the stop string


def _store(tmp_path):
    return ChunkStore(tmp_path / "cache", {"what": "test"})


def test_store_detects_truncated_corrupt_and_stale_units(tmp_path, capsys):
    store = _store(tmp_path)
    recs = [{"qid": "a", "k": 0, "text": "x"}, {"qid": "a", "k": 1, "text": "y"}]
    store.commit(0, 0, recs, ["a"], "h")
    assert store.load(0, 0, ["a"], "h") == recs
    assert store.load(0, 0, ["b"], "h") is None  # stale: other questions
    store.commit(0, 0, recs, ["a"], "h")
    path = store.path(0, 0)
    path.write_bytes(path.read_bytes().replace(b'"y"', b'"z"'))  # one flipped value
    assert store.load(0, 0, ["a"], "h") is None
    store.commit(0, 0, recs, ["a"], "h")
    path.write_bytes(path.read_bytes()[:-40])  # cut mid-line: no commit line
    assert store.load(0, 0, ["a"], "h") is None
    assert not path.exists() and len(store.redone) == 3
    assert "redoing" in capsys.readouterr().out


def _fake_compute(calls):
    def compute(qs, ks):
        calls.append((tuple(q["id"] for q in qs), tuple(ks)))
        return [{"qid": q["id"], "k": k, "text": f"{q['id']}-{k}"} for q in qs for k in ks]
    return compute


QS = [{"id": f"q{i}"} for i in range(5)]
PROMPTS = [f"prompt {i}" for i in range(5)]


def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(tmp_path):
    full = run_units(QS, PROMPTS, 7, 2, 3, ChunkStore(tmp_path / "a", {}), _fake_compute([])).records
    calls: list = []

    def dies_after_two(qs, ks):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed in its third unit
        return _fake_compute(calls)(qs, ks)

    with pytest.raises(KeyboardInterrupt):
        run_units(QS, PROMPTS, 7, 2, 3, ChunkStore(tmp_path / "b", {}), dies_after_two)
    calls2: list = []
    resumed = run_units(QS, PROMPTS, 7, 2, 3, ChunkStore(tmp_path / "b", {}), _fake_compute(calls2))
    assert resumed.records == full
    assert resumed.compute_seconds is not None and resumed.compute_seconds >= 0  # units keep their compute time
    assert resumed.units_cached == 2 and resumed.units_computed == 9 - 2 == len(calls2)
    assert [r["k"] for r in full if r["qid"] == "q0"] == list(range(7))  # blocks are whole, records cut at n


def test_raising_n_tops_up_only_new_blocks(tmp_path):
    store = ChunkStore(tmp_path / "c", {})
    run_units(QS, PROMPTS, 6, 5, 3, store, _fake_compute([]))
    calls: list = []
    topped = run_units(QS, PROMPTS, 12, 5, 3, store, _fake_compute(calls))
    assert [ks for _, ks in calls] == [(6, 7, 8), (9, 10, 11)]
    fresh = run_units(QS, PROMPTS, 12, 5, 3, ChunkStore(tmp_path / "d", {}), _fake_compute([]))
    assert topped.records == fresh.records and topped.cached == 30
    lowered = run_units(QS, PROMPTS, 4, 5, 3, store, _fake_compute(calls))
    assert len(calls) == 2 and len(lowered.records) == 20  # lowering N never resamples


def test_topped_up_model_samples_equal_a_fresh_run(tmp_path, tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    qs = questions[:3]
    prompts = [fmt.prompt(q) for q in qs]

    def compute(batch, ks):
        return draw_unit(b, fmt, batch, ks, "choices", seed=5)

    store = ChunkStore(tmp_path / "m", {})
    run_units(qs, prompts, 4, 2, 4, store, compute)
    topped = run_units(qs, prompts, 8, 2, 4, store, compute)
    fresh = run_units(qs, prompts, 8, 2, 4, ChunkStore(tmp_path / "f", {}), compute)
    assert topped.units_computed == 2 and topped.units_cached == 2
    assert json.dumps(topped.records) == json.dumps(fresh.records)


def test_wilson_interval():
    lo, hi = wilson(8, 10, 1.96)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0, 1.96) == (0.0, 1.0)


def test_adaptive_stop_settles_only_clear_questions(tmp_path):
    rule = AdaptiveStop(bins=5, z=1.96, min_n=4)
    assert rule.settled(["A"] * 20)  # share 1.0: interval [0.84, 1] stays in the top bin
    assert not rule.settled(["A"] * 3)  # below min_n
    assert not rule.settled(["A", "B"] * 10)  # share 0.5: interval spans bins
    assert AdaptiveStop(bins=5, calibrator=lambda p: [0.5 for _ in p], min_n=2).settled(["A", "B"] * 2)

    def answers(q, r):
        return "A" if q["id"] in ("q0", "q1") else r["text"]  # q0, q1 always answer A; others all differ

    calls: list = []
    run = run_units(QS, PROMPTS, 30, 5, 10, ChunkStore(tmp_path / "ad", {}), _fake_compute(calls),
                    answer_of=answers, adaptive=AdaptiveStop(min_n=10))
    per_q = {q["id"]: sum(r["qid"] == q["id"] for r in run.records) for q in QS}
    # share 1.0 after 10 draws: Wilson [0.72, 1] spans two bins; after 20: [0.84, 1], settled in the top bin
    assert per_q == {"q0": 20, "q1": 20, "q2": 30, "q3": 30, "q4": 30}
    assert run.stopped_early == 2
    assert [c[0] for c in calls] == [("q0", "q1", "q2", "q3", "q4")] * 2 + [("q2", "q3", "q4")]


def test_vllm_adapters_without_vllm(tiny, questions):
    """The pure parts of the vLLM backend: trie paths as structured choices, and its outputs as Generations."""
    from types import SimpleNamespace

    from ud.engines.vllm import to_generation, trie_choices

    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    q = questions[0]
    trie, _ = option_trie(b, fmt, q)
    assert trie_choices(tok, trie) == [tok.decode(b.encode_continuation(fmt.completion(q, i)))
                                       for i in range(len(q["choices"]))]
    g = to_generation(SimpleNamespace(text=" 4", token_ids=[5, 6], cumulative_logprob=-3.0, finish_reason="stop"), 0)
    assert (g.text, g.n_tokens, g.logprob_sum, g.logprob_mean, g.finish) == (" 4", 2, -3.0, -1.5, "stop")
    assert to_generation(SimpleNamespace(text="x", token_ids=[5], cumulative_logprob=None,
                                         finish_reason="length"), 0).finish == "length"


def test_a_resume_with_other_numerics_is_refused_and_a_previous_file_of_them_not_imported(tmp_path, capsys):
    """Units computed with 2 CPU threads are never completed with 4: the store refuses to commit one, naming both
    settings, while reading the cached ones stays allowed (inference-time draws within sample.n compute nothing); a
    previous final file drawn with other numerics is not imported (that run draws every unit itself)."""
    two, four = {"engine": "hf", "device": "cpu", "threads": 2}, {"engine": "hf", "device": "cpu", "threads": 4}
    def compute(qs, ks):  # whole sample records: the previous file is read as the sample stage's output
        return [{"qid": q["id"], "k": k, "seed": k, "text": "x", "n_tokens": 1, "logprob_sum": -1.0,
                 "logprob_mean": -1.0, "finish": "stop"} for q in qs for k in ks]

    first = run_units(QS, PROMPTS, 6, 2, 3, ChunkStore(tmp_path / "c", {}, two), compute).records
    assert run_units(QS, PROMPTS, 6, 2, 3, ChunkStore(tmp_path / "c", {}, four), compute).records == first  # read
    with pytest.raises(DataError, match=r"computed with \{.*'threads': 2\}, this run computes with \{.*'threads': 4"):
        run_units(QS, PROMPTS, 9, 2, 3, ChunkStore(tmp_path / "c", {}, four), compute)  # a new block: refused
    assert len(run_units(QS, PROMPTS, 9, 2, 3, ChunkStore(tmp_path / "c", {}, two), compute).records) == 5 * 9
    run_units(QS, PROMPTS, 3, 2, 3, ChunkStore(tmp_path / "empty", {}, four), compute)  # a fresh folder: any
    records, meta = tmp_path / "s.jsonl", tmp_path / "s.meta.json"
    SAMPLES.write(records, first)
    io.write_json(meta, {"definition_hash": "k", "adaptive": None, "n": 6, "numerics": two})
    assert import_previous(ChunkStore(tmp_path / "i4", {}, four), records, meta, "k", QS, PROMPTS, 2, 3, False) == 0
    assert "not imported" in capsys.readouterr().out
    assert import_previous(ChunkStore(tmp_path / "i2", {}, two), records, meta, "k", QS, PROMPTS, 2, 3, False) == 6


def test_engines_report_the_numerics_a_draw_depends_on(tiny):
    import torch

    from ud.engines.hf import HFBackend
    from ud.engines.vllm import apply_reproducible_env, reproducible_env, vllm_numerics

    model, tok = tiny
    assert HFBackend(model, tok).numerics() == {"engine": "hf", "device": "cpu", "threads": torch.get_num_threads()}
    assert reproducible_env(gpu=False) == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    assert reproducible_env(gpu=True) == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_BATCH_INVARIANT": "1"}
    env = {"VLLM_BATCH_INVARIANT": "0"}  # a user's explicit choice wins, and is recorded
    apply_reproducible_env(gpu=True, environ=env)
    n = vllm_numerics("cuda (H200)", 2, environ=env)
    assert (n["in_process"], n["batch_invariant"], n["tensor_parallel"]) == (True, False, 2)
