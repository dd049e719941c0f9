"""Multi-claim uncertainty distillation (Appendix A.2) over a folder: `ud claims distill | train | evaluate`.

OUT/ (one folder per run):
  samples.jsonl     {qid, k, seed, text, n_tokens, finish}: every document's samples
  samples.meta.json what decides a sample (model, seed, prompt, generation settings)
  cache/            the unit cache of the draws (ud.sampling.draws), keyed by that definition: a killed run resumes
  judge.jsonl       LLM-judge decisions (--cluster judge), appended as made: a rerun asks only new pairs
  claims.jsonl      per document: claim clusters {key, text, count, f, correct, fact, sample_ks, surface_forms}
  calibrator.json binner.json sft.jsonl summary.json
  model/            `ud claims train` (the training settings of params.yaml's `train` section)
  eval.jsonl metrics.json plots/reliability.json   `ud claims evaluate` (UD model or, with --base, the base model)
"""

from __future__ import annotations

import sys
from pathlib import Path

from ud import io
from ud.engines.base import GreedyRequest
from ud.errors import DataError


def load_documents(path: str) -> list[dict]:
    """Documents {id, document, facts?} from JSONL; ids default to the line number."""
    docs = []
    for i, rec in enumerate(io.read_jsonl(path)):
        if not isinstance(rec.get("document"), str) or not rec["document"].strip():
            raise DataError(f"{path}: line {i + 1} has no 'document' text")
        facts = rec.get("facts")
        if facts is not None and not (isinstance(facts, list) and all(isinstance(f, str) for f in facts)):
            raise DataError(f"{path}: line {i + 1}: 'facts' must be a list of strings")
        docs.append({"id": str(rec.get("id", i)), "document": rec["document"], "facts": facts})
    if not docs:
        raise DataError(f"{path}: no documents")
    return docs


def equivalence_from(normalizers: list[str], cluster: str | None, nli_model: str | None = None,
                     rule: str = "no_contradiction", judge_model: str | None = None, prefilter: str | None = None,
                     threshold: float = 0.5, judge_cache: Path | None = None):
    """Claim equivalence: key normalizers, then NLI or an LLM judge on the pairs an optional embedding prefilter
    lets through (cosine >= threshold). Judge decisions are appended to `judge_cache` as they are made."""
    from ud.method.claims import ClaimEquivalence
    from ud.method.clustering import Prefilter, embedding_path

    pairwise = None
    pre = Prefilter(embedding_path(prefilter), threshold) if prefilter and cluster not in (None, "none") else None
    if cluster == "nli":
        from ud.method.clustering import NLIClusterer

        if not nli_model:
            raise DataError("--cluster nli needs --nli-model (an HF NLI sequence classifier, e.g. microsoft/deberta-large-mnli)")
        pairwise = NLIClusterer(nli_model, rule, prefilter=pre).equivalent
    elif cluster == "judge":
        from ud.method.claims import JUDGE_PROMPT, JUDGE_VERDICTS
        from ud.method.clustering import JudgeClusterer

        if not judge_model:
            raise DataError("--cluster judge needs --judge-model (a local chat model)")
        backend, _ = _backend(judge_model)
        judge = JudgeClusterer(backend, judge_model, judge_cache, prefilter=pre, prompt=JUDGE_PROMPT,
                               verdicts=JUDGE_VERDICTS)
        pairwise = judge.equivalent
    elif cluster not in (None, "none"):
        raise DataError(f"--cluster {cluster!r}: expected none, nli or judge")
    return ClaimEquivalence(normalizers, pairwise)


def _backend(model_id: str, dtype: str = "float32", trained: str | None = None):
    from ud.engines.registry import build_backend
    from ud.params import ModelParams

    # chat=None: the chat template where the tokenizer has one; base models get the bare prompt
    return build_backend(ModelParams(id=model_id, dtype=dtype, backend="hf"), chat=None, trained=trained)


def distill(docs_path: str, out: str, *, model_id: str, n: int, seed: int, max_claims: int, temperature: float,
            top_p: float, max_new_tokens: int, chunk: int, normalizers: list[str], cluster: str | None,
            nli_model: str | None, calibrate: str, bins: int, binning: str, sets: int, dtype: str = "float32",
            judge_model: str | None = None, prefilter: str | None = None, threshold: float = 0.5) -> dict:
    from tqdm import tqdm

    from ud.method import claims
    from ud.sampling.draws import draw

    docs = load_documents(docs_path)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend, ref = _backend(model_id, dtype)
    definition = {"model": model_id, "revision": ref.revision, "dtype": dtype, "seed": seed, "max_claims": max_claims,
                  "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                  "prompt": claims.PROMPT, "chat": backend.chat}
    # through the unit cache (OUT/cache/<hash of the definition>/): a killed run resumes, other settings never mix
    prompts = [claims.render(backend, claims.prompt(d, max_claims)) for d in docs]
    compute = claims.unit_drawer(backend, seed, max_claims=max_claims, temperature=temperature, top_p=top_p,
                                 max_new_tokens=max_new_tokens)
    with tqdm(total=len(docs), desc=f"claims sample (N={n})", unit="doc") as bar:
        run = draw(docs, prompts, n, out_dir / "cache", definition, chunk=chunk, block=n,
                   numerics=backend.numerics(), compute=compute,
                   progress=lambda finished, computed: bar.update(finished))
    records = run.records
    samples_path = out_dir / "samples.jsonl"
    io.write_jsonl(samples_path, records)
    io.write_json(out_dir / "samples.meta.json", definition)
    eq = equivalence_from(normalizers, cluster, nli_model, judge_model=judge_model, prefilter=prefilter,
                          threshold=threshold, judge_cache=out_dir / "judge.jsonl")
    res = claims.distill(docs, records, eq, calibrate=calibrate, bins=bins, binning=binning, sets=sets,
                         max_claims=max_claims, seed=seed, chat=backend.chat)
    io.write_jsonl(out_dir / "claims.jsonl", res["claim_sets"])
    io.write_json(out_dir / "calibrator.json", res["calibrator"].to_json())
    io.write_json(out_dir / "binner.json", res["binner"].to_json())
    io.write_jsonl(out_dir / "sft.jsonl", res["examples"])
    summary = dict(res["summary"], reused_samples=run.cached, model=model_id, n=n)
    io.write_json(out_dir / "summary.json", summary)
    print(f"claims distill: {summary}")
    if summary["samples"] and summary["invalid_rate"] == 1.0:
        print(f"warning: none of the {summary['samples']} samples holds a JSON 'claims' list ({samples_path} keeps "
              f"them): {model_id} does not follow the A.2 format; use an instruction-following model", file=sys.stderr)
    return summary


def train(out: str, model_id: str, cfg, seed: int) -> dict:
    """Fine-tune on OUT/sft.jsonl with the `train` params section -> OUT/model."""
    from ud.method import train as ud_train
    from ud.method.binning import Binner

    out_dir = Path(out)
    examples = list(io.read_jsonl(out_dir / "sft.jsonl"))
    labels = Binner.from_json(io.read_json(out_dir / "binner.json")).labels
    return ud_train.train(model_id, examples, str(out_dir / "model"), cfg, seed, labels=labels)


def evaluate(docs_path: str, out: str, *, base: str | None, normalizers: list[str], cluster: str | None,
             nli_model: str | None, max_claims: int, max_new_tokens: int, batch_size: int,
             judge_model: str | None = None, prefilter: str | None = None, threshold: float = 0.5) -> dict:
    """Greedy generation per document by the distilled model (OUT/model) or, with `base`, a base model asked the
    same; every claim scored against the reference facts."""
    from tqdm import tqdm

    from ud.method import claims
    from ud.method.binning import Binner

    docs = load_documents(docs_path)
    out_dir = Path(out)
    binner = Binner.from_json(io.read_json(out_dir / "binner.json"))
    if base:
        backend, _ = _backend(base)
        method = "claims_base"
    else:
        info = io.read_json(out_dir / "model" / "ud_model.json")
        backend, _ = _backend(info["base"], trained=str(out_dir / "model"))
        method = "claims_ud"
    eq = equivalence_from(normalizers, cluster, nli_model, judge_model=judge_model, prefilter=prefilter,
                          threshold=threshold, judge_cache=out_dir / "judge.jsonl")
    scored = []
    for i in tqdm(range(0, len(docs), batch_size), desc=f"{method} evaluate", unit="batch"):
        batch = docs[i:i + batch_size]
        prompts = [claims.render(backend, claims.prompt(d, max_claims, binner.labels)) for d in batch]
        gens = backend.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=max_new_tokens)
        scored.extend(claims.score(d, g.text, binner, eq) for d, g in zip(batch, gens))
    metrics, rel = claims.metrics(method, scored, binner)
    io.write_jsonl(out_dir / f"{method}.eval.jsonl", scored)
    io.write_json(out_dir / f"{method}.metrics.json", metrics)
    io.write_json(out_dir / "plots" / f"{method}_reliability.json", rel)
    shown = {k: metrics[k] for k in ("n", "auroc", "accuracy", "ece", "invalid_generations", "claims_per_document")}
    print(f"{method}: {shown}")
    return metrics
