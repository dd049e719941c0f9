"""Multi-claim outputs (paper Appendix A.2): one generation states several claims, each with its own confidence.

Document record (JSONL): {id, document, facts}   facts: reference claims that define correctness (optional)

  sample     N generations per document with the A.2 prompt (JSON {"claims": [{"text", "confidence"}]}); each is
             parsed into its claims. Unparseable output is an invalid sample: counted, never guessed at.
  cluster    the claims of all valid samples are grouped with the open-answer equivalence: key normalizers
             (ud.method.equivalence, SQuAD text by default) and then an optional pairwise test (NLI or LLM judge,
             ud.method.clustering). The reference facts seed the clusters, as the gold answer does in Appendix A.1.
  frequency  a cluster's f = the share of valid samples asserting it (a sample counts once per cluster).
  correct    a cluster equivalent to a reference fact is correct, one that is not is incorrect; without facts,
             unknown (None) -- such claims get frequencies and confidences but cannot fit a calibrator.
  annotate   calibrate f (claims of known correctness), bin, and write SFT targets: the claims of `sets` randomly
             chosen valid samples, each labelled with its cluster's verbal confidence.
  evaluate   parse a generation's claims and labels; every claim is one prediction (its bin, its correctness).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

from ud.data.prompts import parse_confidence
from ud.method.equivalence import chain, text_key

PROMPT = ("Read the following document and summarize at most {max_claims} key facts of the story as a list of claims "
          "(fewer is fine). Keep the claims short, simple, and in canonical format. Return your answer in JSON format "
          "with the field 'claims', which is a list of objects containing 'text' and 'confidence'.{labels}\n\n"
          "Document: {document}")
LABELS_HINT = " Each confidence is one of: {labels}."
# The LLM-judge prompt for claims. Appendix E.3 asks whether two *answers to a question* are equivalent; two claims
# about one document are both "answers", and a 1.5B judge (Qwen2.5-Coder-1.5B) called clear paraphrases
# "contradictory" under it, while it told 5 of 7 hand-checked claim pairs right with this one.
JUDGE_PROMPT = ("Here are two statements summarizing a document:\nStatement 1: {text1}\nStatement 2: {text2}\n"
                "Do the two statements state the same fact (paraphrases of each other), or different facts? "
                "Respond only with 'same' or 'different'.")
JUDGE_VERDICTS = ("same", "different")


def prompt(doc: dict, max_claims: int = 5, labels: list[str] | None = None) -> str:
    hint = LABELS_HINT.format(labels=", ".join(labels)) if labels else ""
    return PROMPT.format(max_claims=max_claims, labels=hint, document=doc["document"].strip())


def render(backend, text: str) -> str:
    """The prompt as the backend's model reads it (chat template for chat models)."""
    return backend.render_user(text)


# ---- parsing ----------------------------------------------------------------------------------------------------
def _json_values(text: str):
    """Every JSON object or array embedded in text (code fences and chatter around it are skipped); an array's
    own objects are not yielded again."""
    decoder = json.JSONDecoder()
    end = 0
    for m in re.finditer(r"[\[{]", text):
        if m.start() < end:
            continue
        try:
            obj, end = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        yield obj


def _claim_list(obj) -> list | None:
    """{"claims": [...]}, or a bare array of claim objects (a common variant: the same claims without the
    wrapper); anything else is not a claims list."""
    if isinstance(obj, dict):
        return obj["claims"] if isinstance(obj.get("claims"), list) else None
    if isinstance(obj, list) and obj and all(isinstance(c, dict) and "text" in c for c in obj):
        return obj
    return None


def parse(text: str) -> list[dict] | None:
    """[{text, confidence}] from the first JSON claims list; None when there is none (an invalid generation).
    Claims without text are dropped; a claim repeated within one generation is kept once."""
    for obj in _json_values(text):
        claims = _claim_list(obj)
        if claims is None:
            continue
        out, seen = [], set()
        for c in claims:
            if isinstance(c, str):
                c = {"text": c}
            if not isinstance(c, dict) or not isinstance(c.get("text"), str) or not c["text"].strip():
                continue
            t = " ".join(c["text"].split())
            if t.lower() in seen:
                continue
            seen.add(t.lower())
            conf = c.get("confidence")
            out.append({"text": t, "confidence": str(conf).strip() if conf is not None else None})
        return out
    return None


def dumps(claims: list[dict]) -> str:
    """The SFT target / expected output: {"claims": [{"text", "confidence"}]}."""
    return json.dumps({"claims": [{"text": c["text"], "confidence": c["confidence"]} for c in claims]},
                      ensure_ascii=False)


def label_index(label: str | None, binner) -> int | None:
    """Bin index of a verbal confidence ("VERY HIGH", "very-high" -> "very high") or of a number a model wrote
    instead ("0.9", "90%" -> the bin holding 0.9); None when it names no bin."""
    if label is None:
        return None
    norm = re.sub(r"[_\-]", " ", label)
    b = parse_confidence(norm, binner.labels)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%?)", norm.strip())
    if b is None and m:
        p = float(m.group(1)) / (100 if m.group(2) else 1)
        b = int(binner.index([p])[0]) if 0.0 <= p <= 1.0 else None
    return b


# ---- equivalence --------------------------------------------------------------------------------------------------
class ClaimEquivalence:
    """Claims are the same when their keys match (first key normalizer that reads them) or, failing that, when the
    pairwise test (NLI / judge `equivalent(a, b)`) says so. Claims no normalizer reads keep their own text."""

    def __init__(self, normalizers: list[str] | None = None, pairwise: Callable[[str, str], bool] | None = None):
        self._key = chain(normalizers or ["text"])
        self.pairwise = pairwise
        self.pairwise_calls = 0

    def key(self, claim: str) -> str:
        return self._key(claim) or f"raw:{text_key(claim) or claim}"

    def same(self, a: str, b: str) -> bool:
        if self.pairwise is None:
            return False
        self.pairwise_calls += 1
        return bool(self.pairwise(a, b))


def cluster(doc: dict, samples: list[list[dict] | None], equivalence: ClaimEquivalence, seed: int = 0) -> dict:
    """Claim set of one document from its parsed samples (index k = position; None = invalid sample).

    Returns {qid, n, valid, invalid, classes, samples}: classes sorted by count, each {key, text, count, f, correct,
    sample_ks, surface_forms, fact}; samples: per valid sample {k, classes: [class index of each of its claims]}.
    """
    facts = [" ".join(f.split()) for f in (doc.get("facts") or [])]
    heads: list[dict] = []  # {key, rep, fact, members: [(k, text)]}
    by_key: dict[str, int] = {}

    def place(text: str, pairwise: bool = True) -> int:
        k = equivalence.key(text)
        if k in by_key:
            return by_key[k]
        for i, h in enumerate(heads if pairwise else []):
            if equivalence.same(text, h["rep"]):
                by_key[k] = i
                return i
        heads.append({"key": k, "rep": text, "fact": None, "members": []})
        by_key[k] = len(heads) - 1
        return len(heads) - 1

    for f in facts:  # distinct references by construction: only identical keys share a cluster
        i = place(f, pairwise=False)
        heads[i]["fact"] = heads[i]["fact"] or f
    assigned, invalid = [], 0
    for k, claims in enumerate(samples):
        if claims is None:
            invalid += 1
            continue
        ids = []
        for c in claims:
            i = place(c["text"])
            heads[i]["members"].append((k, c["text"]))
            ids.append(i)
        assigned.append((k, ids))
    valid = len(samples) - invalid
    rng = random.Random(f"{seed}:{doc['id']}:claims")  # str seeds hash the same on every run
    order = sorted((i for i, h in enumerate(heads) if h["members"]),
                   key=lambda i: (-len({k for k, _ in heads[i]["members"]}), heads[i]["members"][0][0]))
    new_index = {old: new for new, old in enumerate(order)}
    classes = []
    for i in order:
        h = heads[i]
        ks = sorted({k for k, _ in h["members"]})
        classes.append({"key": h["key"], "text": rng.choice(h["members"])[1], "count": len(ks),
                        "f": len(ks) / valid, "correct": (h["fact"] is not None) if facts else None,
                        "fact": h["fact"], "sample_ks": ks, "surface_forms": len({t for _, t in h["members"]})})
    return {"qid": doc["id"], "n": len(samples), "valid": valid, "invalid": invalid, "classes": classes,
            "facts": len(facts), "facts_found": sum(1 for c in classes if c["fact"] is not None),
            "samples": [{"k": k, "classes": [new_index[i] for i in ids]} for k, ids in assigned]}


def grade_claim(claim: str, doc: dict, equivalence: ClaimEquivalence) -> bool | None:
    """Correctness of one claim against the document's reference facts (None without facts)."""
    facts = doc.get("facts") or []
    if not facts:
        return None
    k = equivalence.key(claim)
    return any(equivalence.key(f) == k for f in facts) or any(equivalence.same(claim, f) for f in facts)


# ---- calibration points and SFT targets ---------------------------------------------------------------------------
def points(claim_sets: list[dict]) -> tuple[list[float], list[float]]:
    """(f, correct) of every claim cluster whose correctness is known."""
    f, y = [], []
    for cs in claim_sets:
        for c in cs["classes"]:
            if c["correct"] is not None:
                f.append(c["f"])
                y.append(1.0 if c["correct"] else 0.0)
    return f, y


def build_examples(docs: dict[str, dict], claim_sets: list[dict], parsed: dict[str, list[list[dict] | None]],
                   calibrator, binner, sets: int = 1, seed: int = 0, max_claims: int = 5,
                   chat: bool = True) -> list[dict]:
    """SFT records {qid, prompt, completion, claims}: for `sets` random valid samples of each document, its claims
    (in the order the model wrote them, at most max_claims) each with its cluster's calibrated verbal confidence."""
    rng = random.Random(seed)
    out = []
    for cs in claim_sets:
        doc = docs[cs["qid"]]
        if not cs["samples"]:
            continue
        for pick in rng.sample(cs["samples"], min(sets, len(cs["samples"]))):
            texts = [c["text"] for c in parsed[cs["qid"]][pick["k"]]]
            claims = []
            for text, ci in list(zip(texts, pick["classes"]))[:max_claims]:
                c = cs["classes"][ci]
                p = float(calibrator([c["f"]])[0])
                b = int(binner.index([p])[0])
                claims.append({"text": text, "confidence": binner.labels[b], "f": c["f"], "p": p, "bin": b,
                               "correct": c["correct"]})
            user = prompt(doc, max_claims, binner.labels)
            completion = dumps(claims)
            if chat:
                out.append({"qid": doc["id"], "prompt": [{"role": "user", "content": user}],
                            "completion": [{"role": "assistant", "content": completion}], "claims": claims})
            else:
                out.append({"qid": doc["id"], "prompt": user + "\n", "completion": completion, "claims": claims})
    return out


# ---- evaluation ------------------------------------------------------------------------------------------------
def score(doc: dict, text: str, binner, equivalence: ClaimEquivalence) -> dict:
    """One generation: its claims, each with the bin its confidence names (None: unreadable) and correctness."""
    claims = parse(text)
    if claims is None:
        return {"qid": doc["id"], "invalid": True, "claims": [], "text": text}
    return {"qid": doc["id"], "invalid": False, "text": text,
            "claims": [{"text": c["text"], "confidence": c["confidence"], "bin": label_index(c["confidence"], binner),
                        "correct": grade_claim(c["text"], doc, equivalence)} for c in claims]}


def metrics(method: str, scored: list[dict], binner) -> tuple[dict, list[dict]]:
    """Per-claim metrics (ud.metrics.scores.summarize) over the claims of known correctness; invalid generations and
    unreadable confidences are counted, the latter scored as the lowest bin."""
    from ud.metrics.scores import summarize

    claims = [c for s in scored for c in s["claims"] if c["correct"] is not None]
    out, rel = summarize(method, [c["correct"] for c in claims], [c["bin"] for c in claims], binner.labels,
                         binner.values, binner.high_bins(), confidence_invalid=sum(c["bin"] is None for c in claims),
                         extra={"documents": len(scored), "invalid_generations": sum(s["invalid"] for s in scored),
                                "claims_per_document": sum(len(s["claims"]) for s in scored) / max(1, len(scored))})
    return out, rel


# ---- the whole procedure ------------------------------------------------------------------------------------------
def unit_drawer(backend, seed: int, *, max_claims: int = 5, temperature: float = 1.0, top_p: float = 1.0,
                max_new_tokens: int = 256):
    """compute(docs, ks) -> sample records {qid, k, seed, text, n_tokens, finish} for the samples ks of every
    document (the shared-prefix sampler; sample k of a document depends on its seed only): what one unit of
    ud.sampling.draws.draw computes for multi-claim outputs."""
    from ud.engines.base import SampleRequest, stable_seed

    def compute(docs: list[dict], ks: list[int]) -> list[dict]:
        requests = [SampleRequest(render(backend, prompt(d, max_claims)), [stable_seed(seed, d["id"], k) for k in ks])
                    for d in docs]
        gens = backend.sample(requests, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        return [{"qid": d["id"], "k": k, "seed": s, "text": g.text, "n_tokens": g.n_tokens, "finish": g.finish}
                for d, req, gs in zip(docs, requests, gens) for k, s, g in zip(ks, req.seeds, gs)]
    return compute


def distill(docs: list[dict], records: list[dict], equivalence: ClaimEquivalence, *, calibrate: str = "isotonic",
            bins: int = 5, binning: str = "fixed", sets: int = 1, max_claims: int = 5, seed: int = 0,
            chat: bool = True) -> dict:
    """Parse + cluster every document's samples, fit the calibrator and binner on the claims of known correctness,
    and write the SFT examples. Returns {claim_sets, calibrator, binner, examples, summary}."""
    import numpy as np
    from tqdm import tqdm

    from ud.method.binning import Binner
    from ud.method.calibrate import Calibrator, cross_fitted
    from ud.metrics.scores import auroc, ece

    by_doc: dict[str, list[dict]] = {}
    for r in records:
        by_doc.setdefault(r["qid"], []).append(r)
    parsed = {d["id"]: [parse(r["text"]) for r in sorted(by_doc.get(d["id"], []), key=lambda r: r["k"])]
              for d in docs}
    # pairwise equivalence (NLI / judge) can dominate the run: show it
    claim_sets = [cluster(d, parsed[d["id"]], equivalence, seed)
                  for d in tqdm(docs, desc="claims cluster", unit="doc", disable=equivalence.pairwise is None)]
    f, y = points(claim_sets)
    known = len(f) > 0  # without reference facts the frequencies are the confidences (no calibrator to fit)
    calibrator = Calibrator(calibrate).fit(f, y) if known else Calibrator("none")
    p_all = [float(calibrator([c["f"]])[0]) for cs in claim_sets for c in cs["classes"]]
    binner = Binner.quantile(bins, p_all) if binning == "quantile" and p_all else Binner.fixed(bins)
    if p_all:
        binner.fit_values(p_all)
    examples = build_examples({d["id"]: d for d in docs}, claim_sets, parsed, calibrator, binner, sets, seed,
                              max_claims, chat)
    samples = sum(cs["n"] for cs in claim_sets)
    invalid = sum(cs["invalid"] for cs in claim_sets)
    classes = [c for cs in claim_sets for c in cs["classes"]]
    summary = {"documents": len(docs), "samples": samples, "invalid_samples": invalid,
               "invalid_rate": invalid / samples if samples else 0.0,
               "claims_per_valid_sample": sum(len(s["classes"]) for cs in claim_sets for s in cs["samples"])
               / max(1, samples - invalid),
               "clusters": len(classes), "clusters_merging_surface_forms": sum(c["surface_forms"] > 1 for c in classes),
               "pairwise_calls": equivalence.pairwise_calls, "sft_examples": len(examples),
               "calibrator": calibrator.method, "labelled_claims": len(f)}
    if known:  # the teacher's per-claim discrimination and calibration (out-of-fold for the calibrated one)
        oof = cross_fitted(calibrate, f, y, seed=seed) if len(f) >= 5 else np.asarray(f)
        summary.update({"claim_accuracy": float(np.mean(y)), "teacher_auroc": auroc(np.asarray(f), np.asarray(y)),
                        "teacher_ece_raw": ece(np.asarray(f), np.asarray(y)),
                        "teacher_ece_calibrated_oof": ece(oof, np.asarray(y)),
                        "facts_found": sum(cs["facts_found"] for cs in claim_sets) / max(1, sum(cs["facts"] for cs in
                                                                                                claim_sets))})
    return {"claim_sets": claim_sets, "calibrator": calibrator, "binner": binner, "examples": examples,
            "summary": summary}
