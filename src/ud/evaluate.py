"""Methods that answer with words: the distilled model and the prompting baseline.

One greedy generation per question; the answer and the confidence are parsed from the text. With `constrain`,
decoding walks a trie of (option x confidence label) completions, so every output is valid.

Prediction record (data/eval/<method>.jsonl, the common record of ud.metrics plus the text):
  {qid, text, answer_key, correct, bin, label, confidence: null, raw: null, samples: 1, generated_tokens,
   extra_forward_passes: 0, seconds}
"""

from __future__ import annotations

import time

from tqdm import tqdm

from ud.backends.base import Backend
from ud.estimators import option_trie
from ud.normalize import DEFAULT_EQUIVALENCE, grade
from ud.prompts import Format, parse_confidence


def predict(backend: Backend, fmt: Format, questions: list[dict], labels: list[str], *, ud: bool,
            baseline: bool = False, constrain: bool = False, max_new_tokens: int = 64, batch_size: int = 16,
            desc: str = "evaluate", equivalence=DEFAULT_EQUIVALENCE) -> list[dict]:
    # free-form reasoning, or open answers, cannot be walked through a trie of options
    constrain = constrain and not fmt.reasoning and all(q.get("choices") for q in questions)
    preds = []
    bar = tqdm(total=len(questions), desc=desc, unit="q")
    for start in range(0, len(questions), batch_size):
        batch = questions[start:start + batch_size]
        prompts = [fmt.prompt(q, backend.tok, ud=ud, labels=labels, baseline=baseline) for q in batch]
        tries = [option_trie(backend, fmt, q, labels)[0] for q in batch] if constrain else None
        t0 = time.perf_counter()
        gens = backend.generate(prompts, 1, do_sample=False, max_new_tokens=max_new_tokens, tries=tries,
                                stop_strings=None if constrain else fmt.stop_strings(ud=True))
        dt = (time.perf_counter() - t0) / len(batch)
        for q, g in zip(batch, gens):
            text = g[0].text
            answer_part, conf_part = fmt.split_confidence(text)
            key, ok = grade(answer_part, q, fmt.tagged, equivalence)  # option index, or open answer's key
            b = parse_confidence(conf_part, labels)
            preds.append({"qid": q["id"], "text": text, "answer_key": key, "correct": ok, "bin": b,
                          "label": labels[b] if b is not None else None, "confidence": None, "raw": None,
                          "samples": 1, "generated_tokens": g[0].n_tokens, "extra_forward_passes": 0,
                          "seconds": dt})
        bar.update(len(batch))
    bar.close()
    return preds
