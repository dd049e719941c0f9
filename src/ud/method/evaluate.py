"""Methods that answer with words: the distilled model and the prompting baseline.

One greedy generation per question; the answer and the confidence are parsed from the text. With `constrain`,
decoding walks a trie of (option x confidence label) completions, so every output is valid.

With `constrain`, a forward pass is spent only where the model chooses (Backend.sample's greedy walk of a trie):
the option, then the label; the text between them is appended in one pass, and the tokens the trie forces get no
logits at all (their log-probs are not used here).

For the distilled model the confidence is also read as a distribution P(label) below the point where the labels part
(right after the answer and the confidence marker): the constrained decoder's probability of each label path
(Generation.readout). The decoding's own logits give the choices it made; a label whose path chooses again off the
decoded one (" very" then " low" / " high", when the decoding took " medium") needs the logits after its first token:
one small batched pass from the walk's KV cache. Unconstrained decoding (or an engine without readouts) scores each
label's tokens from the prompt's KV cache instead, in one batched pass. Its expectation over the bins' values is a
continuous confidence (`raw`), and the decoding rule `label_rule` decides which label the model states:
  argmax    the label greedy decoding wrote (the most likely label)
  expected  the label of the bin that expectation falls in

Prediction record (data/eval/<method>.jsonl, the common record of ud.metrics.scores plus the text):
  {qid, text, answer_key, correct, bin, label, confidence, raw, label_probs, bin_argmax, bin_expected,
   samples: 1, generated_tokens, extra_forward_passes}
extra_forward_passes counts the batched passes the label distribution needed beyond the decoding's own: 0 where the
decoding's choices give it (each label its own first token, e.g. numeric labels; or the decoding took the branch
the others share), 1 for a pass off the decoded path or the scoring pass of unconstrained decoding, and 0 for a
plain generation (prompting).
"""

from __future__ import annotations

import math

from tqdm import tqdm

from ud.data.prompts import Format, parse_confidence
from ud.engines.base import Backend, Generation, GreedyRequest, SampleRequest, length_batches
from ud.method.binning import Binner
from ud.method.normalize import DEFAULT_EQUIVALENCE, grade
from ud.params import EvaluateParams, PromptingParams
from ud.sampling.estimators import option_trie


def label_start(backend: Backend, fmt: Format, ids: list[int]) -> int | None:
    """Tokens of a generation up to and including the confidence marker (None: it never wrote one)."""
    for j in range(1, len(ids) + 1):
        if fmt.confidence_marker.lower() in backend.decode(ids[:j]).lower():
            return j
    return None


def label_distribution(backend: Backend, fmt: Format, prompts: list[str], gens: list[Generation],
                       labels: list[str]) -> list[list[float] | None]:
    """P(label | prompt, the generation up to the confidence marker) for each generation, renormalized over the
    labels (each label scored with what closes it, so "high" and "very high" are told apart); None where no marker
    was written. One batched pass from the prompts' KV cache."""
    ends = [label_start(backend, fmt, g.token_ids) for g in gens]
    closing = [] if fmt.chat else [backend.eos_token_id]
    tails = [backend.encode_continuation(fmt.label_continuation(lab)) + closing for lab in labels]
    conts = [[g.token_ids[:e] + t for t in tails] if e is not None else [] for g, e in zip(gens, ends)]
    scored = backend.continuation_logprobs(prompts, conts)
    out = []
    for e, rows in zip(ends, scored):
        if e is None:
            out.append(None)
            continue
        lps = [sum(row[e:]) for row in rows]  # the label's own tokens (and what closes it)
        top = max(lps)
        z = sum(math.exp(v - top) for v in lps)
        out.append([math.exp(v - top) / z for v in lps])
    return out


def label_readout(gen: Generation, trie, keys: list, n_labels: int) -> tuple[list[float], int] | None:
    """(P(label), passes) from the decoding's own readout below the confidence marker (Generation.readout): each
    label's probability under the constrained decoder -- the product, over the choices along its path, of the
    chosen token's probability renormalized over what the trie allowed there (a label's tokens after its last
    choice are forced). None where there is no readout (an engine without one) or it misses a label."""
    ro = gen.readout
    if ro is None:
        return None
    probs: dict[int, float] = {}
    head = gen.token_ids[: ro.position]
    for path, lp in ro.paths.items():
        i = trie.match(head + list(path))
        if i is None or keys[i][1] is None:
            return None
        probs[keys[i][1]] = probs.get(keys[i][1], 0.0) + math.exp(lp)
    if len(probs) != n_labels:
        return None
    z = sum(probs.values())
    return [probs[j] / z for j in range(n_labels)], ro.passes


def distilled_answers(backend: Backend, fmt: Format, questions: list[dict], binner: Binner,
                      settings: EvaluateParams, equivalence=DEFAULT_EQUIVALENCE, desc: str = "evaluate") -> list[dict]:
    """The distilled model: one greedy generation per question under the evaluate section's decoding, with the label
    distribution read too -- from the decoding's own choice among the labels where each label has its own first
    token, else by one scoring pass -- and `settings.label_rule` picking the stated label."""
    return _answers(backend, fmt, questions, binner.labels, ud=True, baseline=False, constrain=settings.constrain,
                    max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size, desc=desc,
                    equivalence=equivalence, binner=binner, label_rule=settings.label_rule)


def prompted_answers(backend: Backend, fmt: Format, questions: list[dict], labels: list[str],
                     settings: PromptingParams, equivalence=DEFAULT_EQUIVALENCE, desc: str = "prompting") -> list[dict]:
    """The base model asked for its answer and one of `labels` in words: one free generation per question. With
    `settings.reasoning` it gets E.1's baseline instruction (reasoning first), else the distilled model's prompt."""
    return _answers(backend, fmt, questions, labels, ud=not settings.reasoning, baseline=settings.reasoning,
                    constrain=False, max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size,
                    desc=desc, equivalence=equivalence, binner=None, label_rule="argmax")


def _answers(backend: Backend, fmt: Format, questions: list[dict], labels: list[str], *, ud: bool, baseline: bool,
             constrain: bool, max_new_tokens: int, batch_size: int, desc: str, equivalence, binner: Binner | None,
             label_rule: str) -> list[dict]:
    # free-form reasoning, or open answers, cannot be walked through a trie of options
    constrain = constrain and not fmt.reasoning and all(q.get("choices") for q in questions)
    preds: list[dict | None] = [None] * len(questions)
    all_prompts = [fmt.prompt(q, backend.tok, ud=ud, labels=labels, baseline=baseline) for q in questions]
    marker = fmt.confidence_marker.lower()

    def at_marker(ids: list[int]) -> bool:  # where the labels part: the first choice after the confidence marker
        return marker in backend.decode(ids).lower()

    bar = tqdm(total=len(questions), desc=desc, unit="q")
    for idx in length_batches(all_prompts, batch_size):
        batch = [questions[i] for i in idx]
        prompts = [all_prompts[i] for i in idx]
        walks = [option_trie(backend, fmt, q, labels) for q in batch] if constrain else [(None, None)] * len(batch)
        tries = [t for t, _ in walks]
        if baseline:
            gens = backend.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=max_new_tokens,
                                  stop_after=fmt.stop_after())
        else:  # the shared-prefix decoder (a trie walk when constrained): the label readout reuses its passes
            requests = [SampleRequest(p, [0], t, readout=at_marker if binner is not None else None,
                                      forced_logprobs=binner is None) for p, t in zip(prompts, tries)]
            gens = [g[0] for g in backend.sample(requests, greedy=True, max_new_tokens=max_new_tokens,
                                                 stop_strings=None if constrain else fmt.stop_strings(ud=True))]
        dists: list = [None] * len(gens)
        passes = [0] * len(gens)
        if binner is not None:
            for j, (g, (t, k)) in enumerate(zip(gens, walks)):
                read = label_readout(g, t, k, len(labels)) if t is not None else None
                if read is not None:
                    dists[j], passes[j] = read
            need = [j for j, d in enumerate(dists) if d is None]
            if need:  # free decoding (or an engine without readouts): one scoring pass over the labels
                scored = label_distribution(backend, fmt, [prompts[j] for j in need], [gens[j] for j in need], labels)
                for j, d in zip(need, scored):
                    dists[j], passes[j] = d, 1 if d is not None else 0
        for i, q, g, dist, extra in zip(idx, batch, gens, dists, passes):
            answer_part, conf_part = fmt.split_confidence(g.text)
            key, ok = grade(answer_part, q, fmt.tagged, equivalence)  # option index, or open answer's key
            stated = parse_confidence(conf_part, labels)
            rec = {"qid": q["id"], "text": g.text, "answer_key": key, "correct": ok, "bin": stated,
                   "label": labels[stated] if stated is not None else None, "confidence": None, "raw": None,
                   "samples": 1, "generated_tokens": g.n_tokens, "extra_forward_passes": 0}
            if binner is not None:
                expected = sum(p * v for p, v in zip(dist, binner.midpoints)) if dist is not None else None
                b_exp = int(binner.index([expected])[0]) if expected is not None else None
                rec.update(raw=expected, label_probs=dist, bin_argmax=stated, bin_expected=b_exp,
                           extra_forward_passes=extra)
                if label_rule == "expected":
                    rec.update(bin=b_exp, label=labels[b_exp] if b_exp is not None else None)
            preds[i] = rec
        bar.update(len(batch))
    bar.close()
    return preds
