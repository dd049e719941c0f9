"""Methods that answer with words: the distilled model and the prompting baseline.

One greedy generation per question; the answer and the confidence are parsed from the text. With `constrain`,
decoding walks a trie of (option x confidence label) completions, so every output is valid.

For the distilled model the confidence is also read as a distribution: at the position where the label starts
(right after the answer and the confidence marker), each label's tokens are scored from the prompt's KV cache
(greedy decoding prefilled it already), giving P(label). Its expectation over the bins' values is a continuous
confidence (`raw`), and the decoding rule `label_rule` decides which label the model states:
  argmax    the label greedy decoding wrote (the most likely label)
  expected  the label of the bin that expectation falls in

Prediction record (data/eval/<method>.jsonl, the common record of ud.metrics.scores plus the text):
  {qid, text, answer_key, correct, bin, label, confidence, raw, label_probs, bin_argmax, bin_expected,
   samples: 1, generated_tokens, extra_forward_passes}
extra_forward_passes is 1 where the label distribution is read (one batched pass over the labels from the prompt's
KV cache), 0 for a plain generation (prompting).
"""

from __future__ import annotations

import math

from tqdm import tqdm

from ud.data.prompts import Format, parse_confidence
from ud.engines.base import Backend, Generation, GreedyRequest, SampleRequest, length_batches
from ud.method.normalize import DEFAULT_EQUIVALENCE, grade
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


def predict(backend: Backend, fmt: Format, questions: list[dict], labels: list[str], *, ud: bool,
            baseline: bool = False, constrain: bool = False, max_new_tokens: int = 64, batch_size: int = 16,
            desc: str = "evaluate", equivalence=DEFAULT_EQUIVALENCE, binner=None,
            label_rule: str = "argmax") -> list[dict]:
    """One greedy generation per question. With a `binner` (the distilled model), the label distribution is read
    too, and `label_rule` picks the stated label."""
    # free-form reasoning, or open answers, cannot be walked through a trie of options
    constrain = constrain and not fmt.reasoning and all(q.get("choices") for q in questions)
    preds: list[dict | None] = [None] * len(questions)
    all_prompts = [fmt.prompt(q, backend.tok, ud=ud, labels=labels, baseline=baseline) for q in questions]
    bar = tqdm(total=len(questions), desc=desc, unit="q")
    for idx in length_batches(all_prompts, batch_size):
        batch = [questions[i] for i in idx]
        prompts = [all_prompts[i] for i in idx]
        tries = [option_trie(backend, fmt, q, labels)[0] for q in batch] if constrain else [None] * len(batch)
        if baseline:
            gens = backend.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=max_new_tokens,
                                  stop_after=fmt.stop_after())
        else:  # the shared-prefix decoder, so the label readout reuses its prefill
            gens = [g[0] for g in backend.sample([SampleRequest(p, [0], t) for p, t in zip(prompts, tries)],
                                                 greedy=True, max_new_tokens=max_new_tokens,
                                                 stop_strings=None if constrain else fmt.stop_strings(ud=True))]
        dists = label_distribution(backend, fmt, prompts, gens, labels) if binner is not None else [None] * len(gens)
        for i, q, g, dist in zip(idx, batch, gens, dists):
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
                           extra_forward_passes=1 if dist is not None else 0)
                if label_rule == "expected":
                    rec.update(bin=b_exp, label=labels[b_exp] if b_exp is not None else None)
            preds[i] = rec
        bar.update(len(batch))
    bar.close()
    return preds
