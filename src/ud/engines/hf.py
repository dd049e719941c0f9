"""HF transformers backend (CPU or GPU): shared-prefix sampling, trie-constrained decoding, continuation scoring.

Two samplers:
  sample()    the pipeline's: each prompt is prefilled once, its KV cache is copied to every continuation row,
              and all rows of all prompts decode together in one loop (left padding, per-row stop on EOS / stop
              strings / trie end, finished rows dropped from the batch, the loop ends when the last row stops).
              Each row draws its tokens by inverse CDF from its own uniform stream, seeded by the row's seed, so a
              sample depends on its seed only -- not on batch composition, order, or how many others are drawn.
  generate()  HF `generate(num_return_sequences=n)`: the prompt is copied n times and each copy prefilled. Kept as
              the reference the shared-prefix sampler is checked and benchmarked against; greedy() runs through it.

Log-probs are always those of the raw model (before temperature, top-p or the constraint): a recorder sits
first in the processor list and keeps one step of log-softmax at a time, so memory does not grow with the
vocabulary x generated length (output_logits=True would hold all of it).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PrefixConstrainedLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from ud.engines.base import Engine, Generation, GreedyRequest, Readout, SampleRequest, torch_numerics
from ud.engines.kv import batch_cache, prefill, with_cache
from ud.engines.trie import TokenTrie
from ud.errors import UDError

# Drop finished rows from the decode batch once this fraction of it is dead: compaction copies the KV cache, so it
# pays only when many rows would otherwise be computed for nothing.
COMPACT_FRACTION = 0.25


class RawLogprobRecorder(LogitsProcessor):
    """Records log p(chosen token) under the unmodified model distribution, one step behind."""

    def __init__(self):
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids, scores):
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, last_tokens[:, None]).squeeze(1))
            self.prev = None
        return torch.stack(self.steps, dim=1) if self.steps else torch.zeros(len(last_tokens), 0)


class AllStringsStop(StoppingCriteria):
    """Stop a row once its generated text holds every one of `strings` (in any order)."""

    def __init__(self, tok, prompt_len: int, strings: list[str]):
        self.tok, self.prompt_len, self.strings = tok, prompt_len, strings

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tok.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([all(s in t for s in self.strings) for t in texts], device=input_ids.device)


def uniform_stream(seed: int, steps: int) -> np.ndarray:
    """The uniforms a row draws its tokens with: a function of its seed only (numpy PCG64 is stable across
    platforms and versions)."""
    return np.random.Generator(np.random.PCG64(seed)).random(steps)


def _shared_prefix(seqs: list[list[int]]) -> list[int]:
    """The tokens every sequence starts with."""
    if not seqs:
        return []
    j, m = 0, min(len(x) for x in seqs)
    while j < m and all(x[j] == seqs[0][j] for x in seqs):
        j += 1
    return list(seqs[0][:j])


class HFBackend(Engine):
    """The transformers engine (CPU or GPU), implementing ud.engines.base.Backend: every capability."""

    name = "hf"
    capabilities = frozenset({"sample", "greedy", "trie", "seeded", "logprobs", "continuation_logprobs", "logits",
                              "hidden_states"})

    @classmethod
    def load(cls, model_id: str, *, chat: bool | None, dtype: str = "float32", adapter: str | None = None):
        """(backend, model ref) for a model id (ud.engines.models resolves it), with a LoRA adapter merged."""
        from ud.engines import models

        model, tok, ref = models.load(model_id, dtype=dtype, adapter=adapter)
        return cls(model, tok, chat=chat), ref

    def __init__(self, model, tokenizer, chat: bool | None = False):
        super().__init__(tokenizer, chat)
        self.model = model
        self.tok.padding_side = "left"
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.device = next(model.parameters()).device
        self._prefill_memo: tuple | None = None
        self._prefix_memo: tuple | None = None
        self.stats = {"forward_tokens": 0, "generated_tokens": 0}  # for throughput / roofline accounting

    def numerics(self) -> dict:
        return torch_numerics(self.name, self.device)

    # ---- tokenization -------------------------------------------------------------------------------------
    def encode(self, prompts: list[str]) -> dict:
        # chat-rendered prompts already carry their special tokens
        return self.tok(prompts, return_tensors="pt", padding=True,
                        add_special_tokens=not self.chat).to(self.device)

    def _stop_window(self, stop_strings: list[str] | None) -> int:
        return 2 + max((len(self.encode_continuation(s)) for s in stop_strings or []), default=0)

    def _stops(self, ids: list[int], window: int, stop_strings: list[str] | None,
               stop_after: list[str] | None = None) -> bool:
        """Whether the tokens so far end a stop string (decoded over the last `window` tokens), or hold every one
        of `stop_after`."""
        if not ids:
            return False
        if stop_after:
            text = self.tok.decode(ids, skip_special_tokens=True)
            return all(s in text for s in stop_after)
        if not stop_strings:
            return False
        tail = self.tok.decode(ids[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop_strings)

    # ---- generation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def greedy(self, requests: list[GreedyRequest], *, max_new_tokens: int = 64,
               stop_strings: list[str] | None = None, stop_after: list[str] | None = None,
               hidden_layer: int | None = None) -> list[Generation]:
        tries = [r.trie for r in requests]
        gens = self.generate([r.prompt for r in requests], 1, do_sample=False, max_new_tokens=max_new_tokens,
                             stop_strings=stop_strings, tries=tries if any(t is not None for t in tries) else None,
                             stop_after=stop_after, hidden_layer=hidden_layer)
        return [g[0] for g in gens]

    def generate(self, prompts: list[str], n: int = 1, *, do_sample: bool = True, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 64, stop_strings: list[str] | None = None,
                 tries: list[TokenTrie] | None = None, seed: int | None = None,
                 stop_after: list[str] | None = None, hidden_layer: int | None = None) -> list[list[Generation]]:
        """n continuations per prompt. `tries` (one per prompt) restrict generation to their paths; a row stops
        on any of `stop_strings`, or once its text holds all of `stop_after`. With `hidden_layer`, each generation
        carries that layer's hidden state at its last token before EOS (`hidden`), taken from the decoding passes
        themselves (a row cut by max_new_tokens needs one more pass for its last token)."""
        enc = self.encode(prompts)
        plen = enc["input_ids"].shape[1]
        recorder = RawLogprobRecorder()
        procs = LogitsProcessorList([recorder])
        if tries is not None:
            def allowed(row: int, ids: torch.Tensor) -> list[int]:
                return tries[row // n].allowed(ids[plen:].tolist())

            procs.append(PrefixConstrainedLogitsProcessor(allowed, num_beams=1))
        if do_sample and temperature != 1.0:
            procs.append(TemperatureLogitsWarper(temperature))
        if do_sample and top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p))
        eos = self.tok.eos_token_id
        cfg = GenerationConfig(
            do_sample=do_sample, num_return_sequences=n, **({"temperature": 1.0, "top_p": 1.0, "top_k": 0}
                                                            if do_sample else {}),
            max_new_tokens=max_new_tokens, pad_token_id=self.tok.pad_token_id, eos_token_id=eos,
            stop_strings=stop_strings or None, output_hidden_states=hidden_layer is not None,
            return_dict_in_generate=hidden_layer is not None,
        )
        if seed is not None:
            torch.manual_seed(seed)
        stopping = StoppingCriteriaList([AllStringsStop(self.tok, plen, stop_after)]) if stop_after else None
        out = self.model.generate(**enc, generation_config=cfg, logits_processor=procs,
                                  tokenizer=self.tok if stop_strings else None, stopping_criteria=stopping)
        steps_hidden = out.hidden_states if hidden_layer is not None else None
        if hidden_layer is not None:
            out = out.sequences
        gen = out[:, plen:]
        lp = recorder.finish(gen[:, -1]) if gen.shape[1] else torch.zeros(len(gen), 0)
        window = self._stop_window(stop_strings)
        results: list[list[Generation]] = [[] for _ in prompts]
        for row in range(gen.shape[0]):
            ids = gen[row].tolist()
            length, finish = self._generated_length(ids, window, stop_strings, stop_after)
            text = self.tok.decode(ids[:length], skip_special_tokens=True)
            row_lp = lp[row, :length]
            s = float(row_lp.sum()) if length else 0.0
            g = Generation(text, length, s, s / length if length else 0.0, finish, ids[:length], row_lp.tolist())
            if steps_hidden is not None:
                g.hidden = self._last_hidden(steps_hidden, hidden_layer, row, ids[:length], enc, plen)
            results[row // n].append(g)
        return results

    def _last_hidden(self, steps, layer: int, row: int, ids: list[int], enc, plen: int) -> np.ndarray:
        """Hidden state at the last token before EOS: step 0 is the prompt's pass (its last position is the prompt's
        last token, left padding), step j + 1 the pass that fed generated token j."""
        eos = self.tok.eos_token_id
        body = ids[:-1] if ids and ids[-1] == eos else ids
        step = len(body)
        if step < len(steps):
            return steps[step][layer][row, -1].float().cpu().numpy()
        prompt = enc["input_ids"][row][enc["attention_mask"][row].bool()].tolist()  # never fed: one more pass
        return self.hidden_states([prompt + body], layer)[0]

    def _generated_length(self, ids: list[int], window: int, stop_strings: list[str] | None,
                          stop_after: list[str] | None = None) -> tuple[int, str]:
        """(tokens the row generated, finish) of a row of HF generate's output, which pads a row after it stops.
        A row stops on EOS (counted) or right after the token that completes a stop string; the padding after it
        is not generated even when pad == EOS (models without a pad token), so it is never counted."""
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        for j, t in enumerate(ids):
            if j and self._stops(ids[:j], window, stop_strings, stop_after):
                return j, "stop"
            if t == eos:
                return j + 1, "stop"
            if t == pad:
                return j, "stop"
        return len(ids), "stop" if self._stops(ids, window, stop_strings, stop_after) else "length"

    # ---- shared-prefix sampling ---------------------------------------------------------------------------
    def _prefill(self, prompts: list[str]):
        """KV cache and next-token logits of a batch of prompts, computed once. The last batch is kept, so
        drawing more blocks of samples (or scoring options) for the same prompts does not prefill again."""
        key = tuple(prompts)
        if self._prefill_memo is not None and self._prefill_memo[0] == key:
            return self._prefill_memo[1:]
        enc = self.encode(prompts)
        mask = enc["attention_mask"]
        kv, logits = prefill(self.model, enc["input_ids"], mask)
        self.stats["forward_tokens"] += int(mask.sum())
        self._prefill_memo = (key, kv, logits, mask)
        return self._prefill_memo[1:]

    @torch.no_grad()
    def walk_tries(self, prompts: list[str], tries: list[TokenTrie], max_new_tokens: int = 64,
                   readouts: list | None = None, forced_logprobs: bool = True) -> list[Generation]:
        """Greedy decoding of each prompt through its trie, spending a forward pass only where the trie branches:
        a run of tokens the trie forces (the text between two choices, a label's tail once its first token decides
        it) is appended in the same pass as the choice before it. The result equals token-by-token greedy decoding
        up to float rounding; each generation's `branches` holds what every choice chose among.

        readouts: per row, None or a predicate on the tokens so far: at the first choice point where it holds, the
        generation's `readout` gets the constrained decoder's probability of every path below that point (paths the
        decoding took come from its own logits; the others from one small batched pass per further choice level,
        run from the walk's KV cache). forced_logprobs=False: forced tokens get no log-prob (NaN), so logits are
        computed only at each chunk's last position and a last forced tail is never run."""
        kv, last_logits, prompt_mask = self._prefill(prompts)
        n = len(prompts)
        readouts = readouts or [None] * n
        steps = min(max_new_tokens, max(len(seq) for t in tries for seq in t.sequences))
        cache = batch_cache(kv, torch.arange(n, device=self.device), steps)
        alive = list(range(n))  # batch position -> row: finished rows leave the batch
        mask = prompt_mask.clone()
        logits = last_logits  # per batch position: the logits after its row's last fed token
        eos = self.tok.eos_token_id
        tokens: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        branches: list[list] = [[] for _ in range(n)]
        nodes: dict[int, tuple] = {}  # row -> (position, the row's mask then): where its readout starts
        kept: dict[int, tuple] = {}  # row -> its (keys, values) per layer, kept when it leaves the batch
        done = [False] * n
        while True:
            chunks: list[list[int]] = []  # per batch position
            raw = torch.log_softmax(logits, dim=-1)
            for b, r in enumerate(alive):
                chunk: list[int] = []
                while not done[r]:
                    allowed = tries[r].allowed(tokens[r])
                    if chunk and len(allowed) > 1:
                        break  # the next choice needs the logits after this chunk
                    if len(allowed) > 1:
                        row = raw[b, allowed]
                        branches[r].append((len(tokens[r]), dict(zip(allowed, row.tolist()))))
                        if readouts[r] is not None and r not in nodes and readouts[r](tokens[r]):
                            nodes[r] = (len(tokens[r]), mask[b].clone())
                        tok = allowed[int(logits[b, allowed].argmax())]
                    else:
                        tok = allowed[0]
                    tokens[r].append(tok)
                    chunk.append(tok)
                    if tok == tries[r].end_token or tok == eos or len(tokens[r]) >= steps:
                        done[r] = True
                chunks.append(chunk)
            # the first token of each chunk is scored by the current logits, the rest by the chunk's own pass (the
            # last chunk too, when forced log-probs are wanted: its forced tail gets them from one more pass)
            for b, chunk in enumerate(chunks):
                if chunk:
                    logprobs[alive[b]].append(float(raw[b, chunk[0]]))
            # a finished row is fed again only for its forced tail's log-probs; otherwise it leaves the batch
            finished = [b for b, r in enumerate(alive) if done[r] and (len(chunks[b]) <= 1 or not forced_logprobs)]
            if len(finished) == len(alive):
                break
            if len(finished) >= COMPACT_FRACTION * len(alive):
                for b in finished:
                    if alive[b] in nodes:  # its readout runs from its cache after the walk
                        kept[alive[b]] = [(layer.keys[b: b + 1], layer.values[b: b + 1]) for layer in cache.layers]
                stay = [b for b in range(len(alive)) if b not in set(finished)]
                stay_t = torch.tensor(stay, device=self.device)
                cache.batch_select_indices(stay_t)
                mask = mask[stay_t]
                alive, chunks = [alive[b] for b in stay], [chunks[b] for b in stay]
            else:
                chunks = [[] if b in set(finished) else c for b, c in enumerate(chunks)]
            m = len(alive)
            width = max(len(c) for c in chunks)
            ids = torch.full((m, width), self.tok.pad_token_id, dtype=torch.long, device=self.device)
            new_mask = torch.zeros((m, width), dtype=mask.dtype, device=self.device)
            for b, chunk in enumerate(chunks):
                ids[b, : len(chunk)] = torch.tensor(chunk, device=self.device)
                new_mask[b, : len(chunk)] = 1
            pos = mask.sum(-1, keepdim=True) + (new_mask.cumsum(-1) - 1).clamp(min=0)
            mask = torch.cat([mask, new_mask], dim=1)
            last = [max(len(c), 1) - 1 for c in chunks]
            # without forced log-probs, the vocabulary projection runs only where a row's next choice is read
            keep = sorted(set(last)) if not forced_logprobs else None
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             logits_to_keep=torch.tensor(keep, device=self.device) if keep else 0,
                             **with_cache(self.model, cache))
            self.stats["forward_tokens"] += int(new_mask.sum())
            at = [keep.index(j) for j in last] if keep else last
            logits = out.logits[torch.arange(m, device=self.device), torch.tensor(at, device=self.device)].float()
            if forced_logprobs:
                chunk_raw = torch.log_softmax(out.logits.float(), dim=-1)
            for b, chunk in enumerate(chunks):
                for j in range(1, len(chunk)):
                    logprobs[alive[b]].append(float(chunk_raw[b, j - 1, chunk[j]]) if forced_logprobs
                                              else float("nan"))
        for r in range(n):  # a last forced tail that was not run
            logprobs[r] += [float("nan")] * (len(tokens[r]) - len(logprobs[r]))
        for b, r in enumerate(alive):
            if r in nodes and r not in kept:
                kept[r] = [(layer.keys[b: b + 1], layer.values[b: b + 1]) for layer in cache.layers]
        found = self._readouts(kept, nodes, tries, tokens, branches) if nodes else {}
        results = []
        for r, (ids, lps, br, trie) in enumerate(zip(tokens, logprobs, branches, tries)):
            text = self.tok.decode([t for t in ids if t != eos], skip_special_tokens=True)
            total = float(sum(lps))
            self.stats["generated_tokens"] += len(ids)
            finish = "stop" if ids and ids[-1] in (eos, trie.end_token) else "length"
            results.append(Generation(text, len(ids), total, total / len(ids) if ids else 0.0, finish, ids, lps,
                                      branches=br, readout=found.get(r)))
        return results

    def _readouts(self, kept: dict[int, list], nodes: dict[int, tuple], tries: list[TokenTrie],
                  tokens: list[list[int]], branches: list[list]) -> dict[int, Readout]:
        """The readout below each row's node (walk_tries): every path of the row's trie from that point, with the
        constrained decoder's log-probability. A path the decoding took reads its choices from the decoding's own
        branches; a choice off it needs the logits after that path's tokens, computed for all such paths of all rows
        at once (one pass per choice level) from the row's cache (`kept`) cut back to its node."""
        seen = {r: {p: d for p, d in branches[r]} for r in nodes}
        paths: dict[int, dict[tuple[int, ...], float]] = {r: {} for r in nodes}
        passes = dict.fromkeys(nodes, 0)

        def grow(r: int, path: list[int], lp: float, pending: list):
            """Follow the trie from `path` (below row r's node) through forced tokens to its end or next choice."""
            start, _ = nodes[r]
            while not (path and path[-1] == tries[r].end_token):
                allowed = tries[r].allowed(tokens[r][:start] + path)
                if len(allowed) > 1:
                    here = start + len(path)
                    if tokens[r][start:here] == path and here in seen[r]:  # the decoding chose here: its own logits
                        choose(r, path, lp, seen[r][here], pending)
                    else:
                        pending.append((r, path, lp))
                    return
                path = path + allowed
            paths[r][tuple(path)] = lp

        def choose(r: int, path: list[int], lp: float, raw: dict[int, float], pending: list):
            norm = torch.logsumexp(torch.tensor(list(raw.values()), dtype=torch.float64), 0).item()
            for t, v in raw.items():
                grow(r, path + [t], lp + v - norm, pending)

        pending: list = []
        for r, (start, _) in nodes.items():
            choose(r, [], 0.0, seen[r][start], pending)
        while pending:
            rows = [r for r, _, _ in pending]
            for r in set(rows):
                passes[r] += 1
            logits = self._readout_pass([kept[r] for r in rows], [nodes[r][1] for r in rows],
                                        [p for _, p, _ in pending])
            raw = torch.log_softmax(logits, dim=-1)
            level, pending = pending, []
            for b, (r, path, lp) in enumerate(level):
                allowed = tries[r].allowed(tokens[r][:nodes[r][0]] + path)
                choose(r, path, lp, dict(zip(allowed, raw[b, allowed].tolist())), pending)
        return {r: Readout(nodes[r][0], paths[r], passes[r]) for r in nodes}

    def _readout_pass(self, kvs: list[list], masks: list[torch.Tensor], paths: list[list[int]]) -> torch.Tensor:
        """(len(paths), vocab) logits after each path, fed after a walk row's cache (`kvs[b]`: (keys, values) per
        layer, one row) cut back to the row's node: `masks[b]` is the row's mask at its node, so the columns the walk
        fed after it are masked out."""
        cols = max(kv[0][0].shape[2] for kv in kvs)

        def stacked(i: int, part: int) -> torch.Tensor:  # layer i's keys or values of every path's row, padded
            parts = [kv[i][part] for kv in kvs]
            return torch.cat([torch.nn.functional.pad(x, (0, 0, 0, cols - x.shape[2])) for x in parts])

        layers = [(stacked(i, 0), stacked(i, 1)) for i in range(len(kvs[0]))]
        pmask = torch.zeros((len(paths), cols), dtype=masks[0].dtype, device=self.device)
        for b, m in enumerate(masks):
            pmask[b, : len(m)] = m
        width = max(len(p) for p in paths)
        ids = torch.full((len(paths), width), self.tok.pad_token_id, dtype=torch.long, device=self.device)
        cmask = torch.zeros((len(paths), width), dtype=pmask.dtype, device=self.device)
        for b, path in enumerate(paths):
            ids[b, : len(path)] = torch.tensor(path, device=self.device)
            cmask[b, : len(path)] = 1
        pos = pmask.sum(-1, keepdim=True) + (cmask.cumsum(-1) - 1).clamp(min=0)
        cache = batch_cache(layers, torch.arange(len(paths), device=self.device), width)
        last = [len(p) - 1 for p in paths]
        keep = sorted(set(last))
        out = self.model(input_ids=ids, attention_mask=torch.cat([pmask, cmask], 1), position_ids=pos, use_cache=True,
                         logits_to_keep=torch.tensor(keep, device=self.device), **with_cache(self.model, cache))
        self.stats["forward_tokens"] += int(cmask.sum())
        at = torch.tensor([keep.index(j) for j in last], device=self.device)
        return out.logits[torch.arange(len(paths), device=self.device), at].float()

    @torch.no_grad()
    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None,
               greedy: bool = False) -> list[list[Generation]]:
        """One continuation per seed of each request, all decoded in one batch from a prefill done once per
        prompt (greedy: the most likely allowed token at each step, seeds unused; greedy through tries takes
        walk_tries' fast path). Returns, per request, its generations in the order of its seeds."""
        if not requests:
            return []
        if greedy and all(r.trie is not None and len(r.seeds) == 1 for r in requests):
            return [[g] for g in self.walk_tries([r.prompt for r in requests], [r.trie for r in requests],
                                                 max_new_tokens, readouts=[r.readout for r in requests],
                                                 forced_logprobs=any(r.forced_logprobs for r in requests))]
        kv, last_logits, prompt_mask = self._prefill([r.prompt for r in requests])
        row_req = [i for i, r in enumerate(requests) for _ in r.seeds]
        seeds = [s for r in requests for s in r.seeds]
        steps = max_new_tokens
        if all(r.trie is not None for r in requests):
            steps = min(steps, max(len(seq) for r in requests for seq in r.trie.sequences))
        idx = torch.tensor(row_req, device=self.device)
        cache = batch_cache(kv, idx, steps)
        mask = prompt_mask[idx]
        logits = last_logits[idx]
        uniforms = torch.from_numpy(np.stack([uniform_stream(s, steps) for s in seeds])).to(self.device)
        eos = self.tok.eos_token_id
        warpers = []
        if temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p))
        window = self._stop_window(stop_strings)
        tokens: list[list[int]] = [[] for _ in seeds]
        logprobs: list[list[float]] = [[] for _ in seeds]
        finish = ["length"] * len(seeds)
        alive = list(range(len(seeds)))  # batch position -> row
        live = [True] * len(seeds)
        for t in range(steps):
            raw = torch.log_softmax(logits, dim=-1)
            scores = logits.clone()
            if any(r.trie is not None for r in requests):
                allowed = torch.zeros_like(scores, dtype=torch.bool)
                for b, row in enumerate(alive):
                    trie = requests[row_req[row]].trie
                    if trie is not None:
                        allowed[b, trie.allowed(tokens[row])] = True
                    else:
                        allowed[b] = True
                scores = scores.masked_fill(~allowed, float("-inf"))
            if greedy:
                chosen = scores.argmax(dim=-1)
            else:
                for w in warpers:
                    scores = w(None, scores)
                # sampled on the device: only the chosen ids and their log-probs cross to the host
                cdf = torch.softmax(scores, dim=-1).double().cumsum(-1)
                u = uniforms[alive, t].unsqueeze(1) * cdf[:, -1:]
                # first token whose cdf exceeds u: zero-probability tokens (flat cdf) can never be chosen
                chosen = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(max=cdf.shape[1] - 1)
            chosen_ids = chosen.tolist()
            chosen_lps = raw.gather(1, chosen[:, None]).squeeze(1).tolist()
            for b, row in enumerate(alive):
                if not live[row]:
                    continue
                tok = chosen_ids[b]
                tokens[row].append(tok)
                logprobs[row].append(chosen_lps[b])
                self.stats["generated_tokens"] += 1
                if tok == eos or self._stops(tokens[row], window, stop_strings):
                    live[row], finish[row] = False, "stop"
            if not any(live[row] for row in alive) or t == steps - 1:
                break
            dead = sum(1 for row in alive if not live[row])
            step_ids = chosen
            if dead and dead >= COMPACT_FRACTION * len(alive):
                keep = [b for b, row in enumerate(alive) if live[row]]
                keep_t = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(keep_t)
                mask, step_ids = mask[keep_t], step_ids[keep_t]
                alive = [alive[b] for b in keep]
            pos = mask.sum(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.model(input_ids=step_ids[:, None], attention_mask=mask, position_ids=pos,
                             use_cache=True, logits_to_keep=1, **with_cache(self.model, cache))
            self.stats["forward_tokens"] += len(alive)
            logits = out.logits[:, -1].float()
        results: list[list[Generation]] = [[] for _ in requests]
        for row, (ids, lps) in enumerate(zip(tokens, logprobs)):
            text = self.tok.decode([t for t in ids if t != eos], skip_special_tokens=True)
            total = float(sum(lps))
            results[row_req[row]].append(Generation(text, len(ids), total, total / len(ids) if ids else 0.0,
                                                    finish[row], ids, lps))
        return results

    # ---- scoring ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def score_continuations(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[torch.Tensor]]:
        """For each prompt, for each of its continuations, the (len, vocab) raw logits before each of the
        continuation's tokens. The prompts are prefilled once (and kept: scoring right after sampling or greedy
        decoding the same prompts costs no second prefill); all continuations then run as one batch from their
        prompt's KV cache, so a prompt is never copied per continuation and nothing is computed over its positions."""
        kv, last_logits, mask = self._prefill(prompts)
        rows = [(i, c) for i, cs in enumerate(continuations) for c in cs]
        rests = [c[:-1] for _, c in rows]  # a continuation's last token predicts nothing we need
        logits = self._extend(kv, mask, [i for i, _ in rows], rests)[0] if any(rests) else None
        out: list[list[torch.Tensor]] = [[] for _ in prompts]
        for r, ((i, c), rest) in enumerate(zip(rows, rests)):  # row 0: after the prompt; j: after token j-1
            parts = [last_logits[i: i + 1]] + ([logits[r, : len(rest)]] if rest else [])
            out[i].append(torch.cat(parts)[: len(c)].cpu())
        return out

    def _extend(self, kv, mask: torch.Tensor, rows: list[int], seqs: list[list[int]]):
        """Run token sequences (right-padded; an empty one adds only masked padding) after rows of a prefilled
        batch: (raw float logits at each position, the extended (keys, values) per layer, the extended mask)."""
        width = max(1, max(len(x) for x in seqs))
        idx = torch.tensor(rows, device=self.device)
        ids = torch.full((len(rows), width), self.tok.pad_token_id, dtype=torch.long, device=self.device)
        cmask = torch.zeros((len(rows), width), dtype=mask.dtype, device=self.device)
        for r, x in enumerate(seqs):
            if x:
                ids[r, : len(x)] = torch.tensor(x, device=self.device)
                cmask[r, : len(x)] = 1
        pmask = mask[idx]
        pos = pmask.sum(-1, keepdim=True) + (cmask.cumsum(-1) - 1).clamp(min=0)
        cache = batch_cache(kv, idx, width)
        out = self.model(input_ids=ids, attention_mask=torch.cat([pmask, cmask], 1), position_ids=pos,
                         use_cache=True, **with_cache(self.model, cache))
        self.stats["forward_tokens"] += int(cmask.sum())
        return (out.logits.float(), [(layer.keys, layer.values) for layer in cache.layers],
                torch.cat([pmask, cmask], 1))

    @torch.no_grad()
    def continuation_logprobs(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[list[float]]]:
        """Per prompt, per continuation, the raw log-probability of each of its tokens. The prompts' prefill is
        shared (and reused right after decoding them); the tokens all of a prompt's continuations start with (the
        generation up to a label, say) run once per prompt, and only the rest once per continuation."""
        kv, last_logits, mask = self._prefill(prompts)
        before = torch.log_softmax(last_logits, dim=-1)  # per prompt: before its next token
        shared = [_shared_prefix(cs) for cs in continuations]
        shared_lps: list[list[float]] = [[] for _ in prompts]
        if any(shared):
            logits, kv, mask = self._extend(kv, mask, list(range(len(prompts))), shared)
            raw = torch.log_softmax(logits, dim=-1)
            for i, c in enumerate(shared):
                if c:
                    shared_lps[i] = [float(before[i, c[0]])] + [float(raw[i, j - 1, c[j]]) for j in range(1, len(c))]
                    before[i] = raw[i, len(c) - 1]
        pairs = [(i, c[len(shared[i]):]) for i, cs in enumerate(continuations) for c in cs]
        feeds = [suffix[:-1] for _, suffix in pairs]  # a suffix's last token predicts nothing we need
        raw = torch.log_softmax(self._extend(kv, mask, [i for i, _ in pairs], feeds)[0], dim=-1) if any(feeds) else None
        out: list[list[list[float]]] = [[] for _ in prompts]
        for r, (i, suffix) in enumerate(pairs):
            lps = list(shared_lps[i])
            if suffix:
                lps.append(float(before[i, suffix[0]]))
                lps += [float(raw[r, j - 1, suffix[j]]) for j in range(1, len(suffix))]
            out[i].append(lps)
        return out

    def forget_caches(self) -> None:
        """Drop the memoized prompt prefill and shared-prefix KV cache (a benchmark times their computation)."""
        self._prefill_memo = self._prefix_memo = None

    def _prefix_kv(self, prefix: list[int]):
        if self._prefix_memo is None or self._prefix_memo[0] != prefix:
            kv, _ = prefill(self.model, torch.tensor([prefix], device=self.device))
            self.stats["forward_tokens"] += len(prefix)
            self._prefix_memo = (list(prefix), kv)
        return self._prefix_memo[1]

    @torch.no_grad()
    def next_token_logits(self, sequences: list[list[int]], prefix: list[int] | None = None) -> torch.Tensor:
        """(len(sequences), vocab) logits after the last token of each token sequence, one forward pass for the
        batch (right padding). When every sequence starts with `prefix`, the prefix's KV is computed once (kept for
        later calls) and shared by the rows; otherwise each row is a full pass."""
        use = bool(prefix) and all(len(s) > len(prefix) and s[: len(prefix)] == prefix for s in sequences)
        start = len(prefix) if use else 0
        rest = [s[start:] for s in sequences]
        width = max(len(r) for r in rest)
        ids = torch.full((len(rest), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rest), width), dtype=torch.long)
        for i, r in enumerate(rest):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        kwargs = {}
        if use:
            cache = batch_cache(self._prefix_kv(prefix), torch.zeros(len(rest), dtype=torch.long,
                                                                      device=self.device), width)
            mask = torch.cat([torch.ones((len(rest), start), dtype=torch.long), mask], dim=1)
            kwargs = {**with_cache(self.model, cache), "use_cache": True,
                      "position_ids": (start + torch.arange(width)).expand(len(rest), -1).to(self.device)}
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs).logits
        last = torch.tensor([len(r) - 1 for r in rest], device=logits.device)
        return logits[torch.arange(len(rest), device=logits.device), last].float()

    @torch.no_grad()
    def hidden_states(self, sequences: list[list[int]], layer: int) -> np.ndarray:
        """Layer `layer` of hidden_states (0 = embeddings, -1 = last) at each sequence's last token, one forward
        pass per sequence (no padding, so the state is exactly the unbatched one)."""
        feats = [self.model(input_ids=torch.tensor([s], device=self.device), output_hidden_states=True)
                 .hidden_states[layer][0, -1].float().cpu().numpy() for s in sequences]
        if not feats:
            raise UDError("hidden_states: no sequences")
        return np.stack(feats)
