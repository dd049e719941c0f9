"""Any OpenAI-compatible server as a backend (`model.backend: openai`, `model.base_url`): `vllm serve`, TGI,
llama.cpp's server, hosted APIs, through the official `openai` client (timeouts, retries with backoff, typed errors).
Prompts are rendered here (the chat template of the model's tokenizer, which must be loadable locally: `model.id`
names it), so every backend sees the same prompt, and sent to one of two endpoints (`model.endpoint`):

  * completions (/v1/completions): the rendered prompt string;
  * chat (/v1/chat/completions, what hosted APIs offer): the chat messages the prompt was rendered from (the
    server applies its own template); chat prompt templates only (reasoning, open), and no prompt log-probs.

  * sampling: one request per sample with n=1, the sample's own `seed`, temperature and top-p, and the chosen
    tokens' log-probs; greedy is temperature 0;
  * what a server does not give is reported, never faked: `capabilities` holds "logprobs" when its responses carry
    log-probs and "seeded" when a repeated seeded request repeats its text (asked once, on first use); a sample
    without log-probs has `logprob_sum` None, so the lexical baseline cannot run on it, and an unseeded server
    breaks the resumable cache's promise (a redone unit would differ) -- the sample stage refuses it;
  * `continuation_logprobs` uses `echo` with prompt log-probs where the server has them (completions only);
    logits, hidden states and trie-constrained decoding do not cross HTTP (the stages that need them build an hf
    backend).
The API key is read from the environment variable `model.api_key_env` (never from params).
"""

from __future__ import annotations

import os

from ud.engines.base import Engine, Generation, GreedyRequest, SampleRequest, cut_after_all
from ud.errors import UDError


class MessagesOf:
    """A tokenizer that remembers the chat messages each prompt it renders came from: the chat endpoint sends those
    messages, while every stage builds its prompts as strings, as for any engine (ud.data.prompts)."""

    def __init__(self, tok):
        self._tok, self.rendered = tok, {}

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __call__(self, *args, **kwargs):
        return self._tok(*args, **kwargs)

    def __len__(self):
        return len(self._tok)

    def apply_chat_template(self, messages, *args, **kwargs):
        out = self._tok.apply_chat_template(messages, *args, **kwargs)
        if isinstance(out, str):
            self.rendered[out] = messages
        return out


class OpenAIBackend(Engine):
    name = "openai"

    def __init__(self, base_url: str, model: str, tokenizer, chat: bool = False, api_key: str | None = None,
                 timeout: float = 600.0, max_retries: int = 3, endpoint: str = "completions"):
        try:
            import openai
        except ImportError as e:
            raise UDError("model.backend='openai' needs the openai client: pip install openai") from e
        if endpoint not in ("completions", "chat"):
            raise UDError(f"model.endpoint={endpoint!r}: completions or chat")
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.endpoint = endpoint
        super().__init__(MessagesOf(tokenizer) if endpoint == "chat" else tokenizer, chat)
        if endpoint == "chat" and not self.chat:
            raise UDError("model.endpoint chat sends chat messages: it needs a chat prompt (prompt.template reasoning "
                          "or open, a tokenizer with a chat template); a plain prompt goes to model.endpoint "
                          "completions")
        self.device = f"openai-compatible server at {self.base_url}"
        self._probed: frozenset[str] | None = None
        self.stats = {"forward_tokens": 0, "generated_tokens": 0}
        # the official client: timeouts, retries with exponential backoff (connection errors, 408/429/5xx), typed
        # errors; servers without authentication accept any key
        self._openai = openai
        self.client = openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=api_key or "none", timeout=timeout,
                                    max_retries=max_retries)

    def numerics(self) -> dict:
        """What a client can see of the numerics: the served model's name (the server's own settings are not
        visible: a server restarted with other settings under the same name resumes the same cache)."""
        return {"engine": self.name, "model": self.model_name}

    # ---- HTTP ---------------------------------------------------------------------------------------------------
    def _create(self, **body) -> dict:
        """One /v1/completions request, as the JSON the server sent."""
        try:
            return self.client.completions.create(model=self.model_name, **body).model_dump()
        except self._openai.APIStatusError as e:
            raise UDError(f"{self.base_url}/v1/completions: HTTP {e.status_code}: {str(e.message)[:300]}") from None
        except self._openai.APIConnectionError as e:
            raise UDError(f"{self.base_url}/v1/completions: cannot reach the server ({e.__cause__ or e})") from None

    def load_adapter(self, folder: str) -> None:
        """Load the LoRA adapter in `folder` (the train stage's models/ud) into the running server under this
        backend's model name, replacing an adapter loaded under that name before (a retrained model): vLLM's runtime
        LoRA loading (POST /v1/load_lora_adapter; the server runs with --enable-lora and
        VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). The path is the server's: it must see this machine's folder."""
        from pathlib import Path

        from ud.engines import models

        if models.trained_info(folder)["method"] != "lora":
            raise UDError(f"model.load_trained: {folder} is not a LoRA adapter (train.method: lora); a fully "
                          "fine-tuned model is served by starting the server on it")
        body = {"lora_name": self.model_name, "lora_path": str(Path(folder).resolve())}
        try:
            self.client.post("/unload_lora_adapter", body={"lora_name": self.model_name}, cast_to=str)
        except self._openai.APIStatusError:
            pass  # nothing loaded under that name yet
        except self._openai.APIConnectionError as e:
            raise UDError(f"{self.base_url}: cannot reach the server ({e.__cause__ or e})") from None
        try:
            self.client.post("/load_lora_adapter", body=body, cast_to=str)
        except self._openai.APIStatusError as e:
            raise UDError(f"{self.base_url}/v1/load_lora_adapter: HTTP {e.status_code}: {str(e.message)[:300]} (a "
                          "vLLM server loads adapters at runtime only with --enable-lora and "
                          "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)") from None

    def _complete(self, prompt: str, *, max_tokens: int, temperature: float, top_p: float, seed: int | None,
                  stop: list[str] | None) -> dict:
        """One completion of `prompt`, as a /v1/completions choice ({text, finish_reason, logprobs: {tokens,
        token_logprobs}}) whichever endpoint answered."""
        body = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "n": 1}
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        if self.endpoint == "completions":
            return self._create(prompt=prompt, logprobs=1, **body)["choices"][0]
        messages = self.tok.rendered.get(prompt)
        if messages is None:
            raise UDError("model.endpoint chat: this prompt was not rendered from chat messages by this backend's "
                          "tokenizer (a plain prompt): use model.endpoint completions")
        try:
            choice = self.client.chat.completions.create(model=self.model_name, messages=messages, logprobs=True,
                                                         **body).model_dump()["choices"][0]
        except self._openai.APIStatusError as e:
            raise UDError(f"{self.base_url}/v1/chat/completions: HTTP {e.status_code}: {str(e.message)[:300]}") \
                from None
        except self._openai.APIConnectionError as e:
            raise UDError(f"{self.base_url}/v1/chat/completions: cannot reach the server ({e.__cause__ or e})") \
                from None
        content = (choice.get("logprobs") or {}).get("content")
        return {"text": (choice.get("message") or {}).get("content") or "", "finish_reason": choice.get("finish_reason"),
                "logprobs": {"tokens": [c["token"] for c in content],
                             "token_logprobs": [c["logprob"] for c in content]} if content else None}

    @property
    def capabilities(self) -> frozenset[str]:
        """sample, greedy and continuation_logprobs (echo), plus what the server is asked once: "logprobs" (its
        responses carry the chosen tokens' log-probs) and "seeded" (a repeated seeded request at temperature 1
        repeats its text)."""
        if self._probed is None:
            prompt = self.render_user("Count: 1, 2,")
            probe = [self._complete(prompt, max_tokens=8, temperature=1.0, top_p=1.0, seed=1234, stop=None)
                     for _ in range(2)]
            lp = (probe[0].get("logprobs") or {}).get("token_logprobs")
            echo = {"continuation_logprobs"} if self.endpoint == "completions" else set()
            self._probed = frozenset({"sample", "greedy"} | echo
                                     | ({"logprobs"} if lp else set())
                                     | ({"seeded"} if probe[0]["text"] == probe[1]["text"] else set()))
        return self._probed

    def _generation(self, choice: dict) -> Generation:
        text = choice.get("text") or ""
        lps = (choice.get("logprobs") or {}).get("token_logprobs")
        tokens = (choice.get("logprobs") or {}).get("tokens")
        ids = self.encode_continuation(text)
        n = len(tokens) if tokens else len(ids)
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        self.stats["generated_tokens"] += n
        if lps:
            total = float(sum(v for v in lps if v is not None))
            return Generation(text, n, total, total / n if n else 0.0, finish, ids, [float(v or 0.0) for v in lps])
        return Generation(text, n, None, None, finish, ids, [])  # no log-probs: said so, not invented

    # ---- the Backend interface ----------------------------------------------------------------------------------
    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None,
               greedy: bool = False) -> list[list[Generation]]:
        if any(r.trie is not None for r in requests):
            raise UDError("the openai backend cannot constrain decoding to the options (the `choices` estimator, "
                          "evaluate.constrain): use sample.estimator free / evaluate.constrain false, or hf / vllm")
        return [[self._generation(self._complete(r.prompt, max_tokens=max_new_tokens,
                                                 temperature=0.0 if greedy else temperature, top_p=top_p,
                                                 seed=None if greedy else s, stop=stop_strings))
                 for s in r.seeds] for r in requests]

    def greedy(self, requests: list[GreedyRequest], *, max_new_tokens: int = 64,
               stop_strings: list[str] | None = None, stop_after: list[str] | None = None,
               hidden_layer: int | None = None) -> list[Generation]:
        if hidden_layer is not None:
            self.require("hidden_states", who="greedy(hidden_layer=...)")
        out = [g[0] for g in self.sample([SampleRequest(r.prompt, [0], r.trie) for r in requests], greedy=True,
                                         max_new_tokens=max_new_tokens,
                                         stop_strings=None if stop_after else stop_strings)]
        if stop_after:  # no server stops on "all of these": cut where the last of them closes
            cut_after_all(out, stop_after)
        return out

    def continuation_logprobs(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[list[float]]]:
        """Prompt log-probs of prompt + continuation (`echo`, `max_tokens: 0`), where the server gives them."""
        self.require("continuation_logprobs", who="the label readout (prompt log-probs)")
        out = []
        for prompt, conts in zip(prompts, continuations):
            rows = []
            for c in conts:
                choice = self._create(prompt=prompt + self.tok.decode(c), max_tokens=0, echo=True,
                                      logprobs=0)["choices"][0]
                lps = (choice.get("logprobs") or {}).get("token_logprobs")
                if not lps:
                    raise UDError(f"{self.base_url} returns no prompt log-probs (echo): the label readout cannot run "
                                  "on it")
                rows.append([float(v) for v in lps[-len(c):]] if c else [])
            out.append(rows)
        return out


def from_params(model, chat: bool, served_name: str | None = None) -> OpenAIBackend:
    """The backend for the `model` params section: base_url, api_key_env, and model.id naming the tokenizer;
    served_name: another model the server holds (the trained one), instead of model.served_name."""
    from transformers import AutoTokenizer

    from ud.engines import models

    if not model.base_url:
        raise UDError("model.backend='openai' needs model.base_url (e.g. http://localhost:8000)")
    ref = models.ensure_local(models.resolve(model.id))
    tok = AutoTokenizer.from_pretrained(ref.load_from)
    key = os.environ.get(model.api_key_env) if model.api_key_env else None
    return OpenAIBackend(model.base_url, served_name or model.served_name or model.id, tok, chat=chat, api_key=key,
                         endpoint=model.endpoint)
