"""Semantic normalization for multiple choice: raw model output -> option index (or invalid), and answer sets.

Answer-set record (data/answers/<split>.jsonl):
  {qid, n, invalid, classes: [{key, index, count, f, correct, representative}], estimator}
  f = count / n, where n counts every sample considered (invalid ones too), as in the paper (f = n/N).
  For the `exact` estimator f is the option's probability and count is null.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from ud.data.prompts import LETTERS

_PUNCT = re.compile(rf"[{re.escape(string.punctuation)}‘’“”]")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_OPEN_TAG = re.compile(r"<answer>(.*)", re.S | re.I)
_LETTER = re.compile(r"^\(?([A-Za-z])\s*(?:[\).:\]]|$)")


def norm_text(s: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace."""
    return " ".join(_PUNCT.sub(" ", s.lower()).split())


def extract_answer(text: str, require_tags: bool) -> str | None:
    """The answer span: the last complete <answer>…</answer>, else an unclosed <answer>… line, else (when
    tags are not required) the whole text. None when nothing usable is there."""
    tags = _ANSWER_TAG.findall(text)
    if tags:
        return tags[-1].strip()
    m = _OPEN_TAG.search(text)
    if m:  # generation cut at max tokens or stop string eaten: take up to the next tag or line end
        return re.split(r"<|\n", m.group(1).strip(), maxsplit=1)[0].strip() or None
    if require_tags:
        return None
    return text.strip() or None


def match_option(span: str, choices: list[str]) -> int | None:
    """Option index for an answer span: exact option text, then a letter ("C", "C)", "(C) 42"),
    then the only option whose text the span contains. None if ambiguous or no match."""
    n = norm_text(span)
    if not n:
        return None
    normed = [norm_text(c) for c in choices]
    exact = [i for i, c in enumerate(normed) if c and c == n]
    if len(exact) == 1:
        return exact[0]
    m = _LETTER.match(span.strip())
    if m:
        i = LETTERS.index(m.group(1).upper())
        if i < len(choices):
            rest = norm_text(span.strip()[m.end():])
            # "C) 42" must agree with option C's text when text follows the letter
            if not rest or rest == normed[i] or normed[i].startswith(rest) or rest.startswith(normed[i]):
                return i
            if rest in normed:  # "C) 13" where 13 is option A: contradictory, so invalid rather than a guess
                return None
    contained = [i for i, c in enumerate(normed) if c and re.search(rf"(?<!\w){re.escape(c)}(?!\w)", n)]
    if len(contained) == 1:
        return contained[0]
    return None


def classify(text: str, q: dict, require_tags: bool) -> int | None:
    span = extract_answer(text, require_tags)
    return None if span is None else match_option(span, q["choices"])


DEFAULT_EQUIVALENCE = ("numeric", "text")


def open_span(text: str, require_tags: bool) -> str | None:
    """The answer part of an open answer: the tagged span, else (untagged formats) its first line."""
    span = extract_answer(text, require_tags)
    if span is None:
        return None
    return span.strip().split("\n", 1)[0].strip() or None


def grade(text: str, q: dict, require_tags: bool, equivalence=DEFAULT_EQUIVALENCE) -> tuple[object, bool]:
    """(answer key, correct) for one model output: the option index for multiple choice; for open answers the
    equivalence key (ud.method.equivalence) of its span, correct when it equals the key of the gold answer or an alias.
    key None = invalid (no readable answer)."""
    if q.get("choices"):
        idx = classify(text, q, require_tags)
        return idx, idx is not None and idx == q["answer"]
    from ud.method.equivalence import chain

    key = chain(list(equivalence))
    span = open_span(text, require_tags)
    k = key(span) if span is not None else None
    if k is None:
        return None, False
    golds = [str(q["answer"])] + [str(a) for a in q.get("answers") or []]
    return k, any(key(g) == k for g in golds)


def answer_set_open(q: dict, samples: list[dict], n: int, require_tags: bool, equivalence=DEFAULT_EQUIVALENCE,
                    seed: int = 0, merge=None) -> dict:
    """Open answers: the first `n` samples clustered by equivalence key; each class's `answer` (the SFT target)
    is the span of a member drawn at random, as in Appendix A.1.

    merge(question, spans) -> cluster id per span: an optional pairwise method (NLI, LLM judge; ud.method.clustering)
    that further joins the key clusters, given one span per key cluster; a joined cluster is correct when any of
    its keys matches the gold answer."""
    import random

    samples = sorted(samples, key=lambda s: s["k"])[:n]
    if len(samples) < n:
        raise ValueError(f"question {q['id']}: {len(samples)} samples, {n} requested")
    members: dict[object, list[dict]] = {}
    right: dict[object, bool] = {}
    invalid = 0
    for s in samples:
        k, ok = grade(s["text"], q, require_tags, equivalence)
        if k is None:
            invalid += 1
            continue
        members.setdefault(k, []).append(s)
        right[k] = ok
    if merge is not None and len(members) > 1:
        keys = list(members)
        ids = merge(q, [open_span(members[k][0]["text"], require_tags) for k in keys])
        joined: dict[object, list[dict]] = {}
        joined_right: dict[object, bool] = {}
        for k, cid in zip(keys, ids):
            head = keys[ids.index(cid)]  # the cluster is named by its first key
            joined.setdefault(head, []).extend(members[k])
            joined_right[head] = joined_right.get(head, False) or right[k]
        members = {k: sorted(v, key=lambda s: s["k"]) for k, v in joined.items()}
        right = joined_right
    rng = random.Random(f"{seed}:{q['id']}:representative")  # str seeds are hashed the same on every run
    classes = []
    for k, ms in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[1][0]["k"])):
        pick = rng.choice(ms)
        classes.append({"key": k, "index": None, "count": len(ms), "f": len(ms) / n, "correct": right[k],
                        "answer": open_span(pick["text"], require_tags), "representative": pick["text"],
                        "sample_ks": [m["k"] for m in ms], "surface_forms": len({open_span(m["text"], require_tags)
                                                                                 for m in ms})})
    return {"qid": q["id"], "n": n, "invalid": invalid, "classes": classes, "estimator": "sampled"}


def answer_set(q: dict, samples: list[dict], n: int, require_tags: bool) -> dict:
    """Count the first `n` samples (by index k) of one question into classes."""
    samples = sorted(samples, key=lambda s: s["k"])[:n]
    if len(samples) < n:
        raise ValueError(f"question {q['id']}: {len(samples)} samples, {n} requested")
    counts: Counter[int] = Counter()
    reps: dict[int, str] = {}
    texts: dict[int, list[int]] = {}
    invalid = 0
    for s in samples:
        idx = classify(s["text"], q, require_tags)
        if idx is None:
            invalid += 1
            continue
        counts[idx] += 1
        reps.setdefault(idx, s["text"])
        texts.setdefault(idx, []).append(s["k"])
    classes = [
        {"key": LETTERS[i], "index": i, "count": c, "f": c / n, "correct": i == q["answer"],
         "representative": reps[i], "sample_ks": texts[i]}
        for i, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"qid": q["id"], "n": n, "invalid": invalid, "classes": classes, "estimator": "sampled"}


def answer_set_exact(q: dict, rec: dict) -> dict:
    """Answer set from the `exact` estimator's option probabilities."""
    probs = rec["probs"]
    classes = [
        {"key": LETTERS[i], "index": i, "count": None, "f": float(p), "correct": i == q["answer"],
         "representative": rec["texts"][i], "sample_ks": []}
        for i, p in sorted(enumerate(probs), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"qid": q["id"], "n": None, "invalid": 0, "classes": classes, "estimator": "exact"}
