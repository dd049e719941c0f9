"""Every method's cost fields are what it ran: a backend that counts its calls checks them."""

import copy
from pathlib import Path

import yaml

from ud import params
from ud.baselines import ptrue, semantic
from ud.data.prompts import Format
from ud.engines.hf import HFBackend
from ud.method.binning import Binner
from ud.method.evaluate import distilled_answers, prompted_answers
from ud.params import EvaluateParams, PromptingParams
from ud.sampling import draws
from ud.sampling.estimators import DrawSetting

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


class Counting(HFBackend):
    """HFBackend that counts, per request kind, the rows it decoded and the passes it ran."""

    def __init__(self, model, tok, **kw):
        super().__init__(model, tok, **kw)
        self.calls = {"sampled": 0, "greedy": 0, "label_passes": 0, "next_token": 0, "prefills": 0}

    def sample(self, requests, **kw):
        self.calls["sampled"] += sum(len(r.seeds) for r in requests)
        return super().sample(requests, **kw)

    def greedy(self, requests, **kw):
        self.calls["greedy"] += len(requests)
        return super().greedy(requests, **kw)

    def continuation_logprobs(self, prompts, continuations):
        self.calls["label_passes"] += len(prompts)
        return super().continuation_logprobs(prompts, continuations)

    def _readout_pass(self, kvs, masks, paths):  # a label readout's pass off the decoded path
        self.calls["label_passes"] += len({id(kv) for kv in kvs})
        return super()._readout_pass(kvs, masks, paths)

    def next_token_logits(self, sequences, prefix=None):
        self.calls["next_token"] += len(sequences)
        return super().next_token_logits(sequences, prefix)

    def score_continuations(self, prompts, continuations):
        self.calls["prefills"] += len(prompts)
        return super().score_continuations(prompts, continuations)


def _setting(**sample) -> DrawSetting:
    raw = copy.deepcopy(DEFAULT)
    raw["sample"].update(sample)
    p = params.validate(raw)
    return DrawSetting(p.model, p.prompt, p.sample, p.seed, "rev")


def _per_answer(records, field):
    return sum(r[field] for r in records)


def test_the_distilled_models_and_prompting_costs_are_what_they_ran(tiny, questions):
    model, tok = tiny
    qs = questions[:4]
    b = Counting(model, tok)
    binner = Binner.fixed(4, ["very low", "quite low", "quite high", "very high"])  # two label paths choose again
    ud = distilled_answers(b, Format("qa"), qs, binner, EvaluateParams(max_new_tokens=40, batch_size=2))
    assert b.calls["sampled"] == _per_answer(ud, "samples") == len(qs)  # one generation per answer
    # the label readout: a pass only where a label's path chooses off the decoded one
    assert b.calls["label_passes"] == _per_answer(ud, "extra_forward_passes") == len(qs)
    assert sum(r["generated_tokens"] for r in ud) == b.stats["generated_tokens"]
    b = Counting(model, tok)
    asked = prompted_answers(b, Format("qa"), qs, binner.labels, PromptingParams(max_new_tokens=20, batch_size=2))
    assert b.calls["greedy"] == _per_answer(asked, "samples") == len(qs)
    assert b.calls["label_passes"] == _per_answer(asked, "extra_forward_passes") == 0


def test_ptrues_cost_is_one_scoring_pass_per_answer(tiny, questions):
    model, tok = tiny
    b = Counting(model, tok)
    greedy = [{"qid": q["id"], "text": "A", "answer_key": 0, "correct": i == 0, "n_tokens": 2}
              for i, q in enumerate(questions[:3])]
    scored = ptrue.score(b, [(questions[3], "B) x", True)], questions[:3], greedy, batch_size=2)
    assert b.calls["next_token"] == _per_answer(scored, "extra_forward_passes") == 3


def test_semantic_clusterings_cost_is_k_samples_or_one_prefill_under_exact(tiny, questions, tmp_path):
    model, tok = tiny
    qs = questions[:3]
    setting = _setting(estimator="choices", chunk=3, block=4)
    b = Counting(model, tok)
    by_q, _ = draws.samples(b, Format.from_params(setting.prompt), qs, 4, tmp_path / "c", setting)
    records = semantic.score(qs, by_q, 4, False, tokens_per_sample=1.0)
    assert b.calls["sampled"] == _per_answer(records, "samples") == 4 * len(qs)
    assert _per_answer(records, "extra_forward_passes") == 0
    setting = _setting(estimator="exact", chunk=3)
    b = Counting(model, tok)
    by_q, _ = draws.samples(b, Format.from_params(setting.prompt), qs, 4, tmp_path / "e", setting)
    for k in (2, 4):  # every K draws from the same prefill
        records = semantic.score(qs, by_q, k, False, tokens_per_sample=1.0, exact=True)
        assert _per_answer(records, "samples") == 0 and b.calls["sampled"] == 0
        assert _per_answer(records, "extra_forward_passes") == b.calls["prefills"] == len(qs)
