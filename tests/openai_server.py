"""A small OpenAI-compatible HTTP server (the legacy /v1/completions endpoint) that answers with a local model
through ud's HF backend: what the openai backend's tests talk to, over real HTTP. `logprobs` and `seeds` switch off
those features, to check that a server without them is reported as such. `models` maps served names to backends
(or to functions that load one on first request, as a server loads an adapter once it exists); `load_lora` (a
folder -> backend) serves vLLM's runtime LoRA endpoints (/v1/load_lora_adapter, /v1/unload_lora_adapter) with
vLLM's answers; `asked` counts the requests per name."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from ud.engines.base import SampleRequest


def serve(backend=None, logprobs: bool = True, seeds: bool = True, models: dict | None = None,
          load_lora=None) -> tuple[ThreadingHTTPServer, str]:
    lock = threading.Lock()  # one model, one request at a time
    loaded: dict = {}
    models = dict(models) if models is not None else None

    def model_for(name):
        if models is None:
            return backend
        if name not in models:
            return None
        if name not in loaded:
            loaded[name] = models[name]() if callable(models[name]) else models[name]
        return loaded[name]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if load_lora is not None and self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
                with lock:
                    self.lora(body)
                return
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self.send_error(404)
                return
            with lock:
                served = model_for(body.get("model"))
                if served is None:
                    self.send_error(404, f"no model {body.get('model')!r}")
                    return
                server.asked[body.get("model")] = server.asked.get(body.get("model"), 0) + 1
                if self.path == "/v1/chat/completions":
                    prompt = served.tok.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
                    choices = [as_chat(c) for c in complete(served, dict(body, prompt=prompt), logprobs, seeds)]
                    kind = "chat.completion"
                else:
                    choices, kind = complete(served, body, logprobs, seeds), "text_completion"
            data = json.dumps({"id": "x", "object": kind, "created": 0, "model": body.get("model"),
                               "choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def lora(self, body):
            name = body["lora_name"]
            if self.path == "/v1/unload_lora_adapter":
                if name not in server.loras:
                    self.send_error(404, f"The lora adapter '{name}' cannot be found.")
                    return
                server.loras.pop(name)
                models.pop(name, None)
                loaded.pop(name, None)
            else:
                if name in server.loras:
                    self.send_error(400, f"The lora adapter '{name}' has already been loaded.")
                    return
                server.loras[name] = body["lora_path"]
                models[name] = load_lora(body["lora_path"])
            data = b"Success"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.loras = {}
    server.asked = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def as_chat(choice: dict) -> dict:
    """A /v1/completions choice as /v1/chat/completions answers it."""
    lp = choice["logprobs"]
    content = [{"token": t, "logprob": v, "bytes": None, "top_logprobs": []}
               for t, v in zip(lp["tokens"], lp["token_logprobs"])] if lp else None
    return {"index": choice["index"], "finish_reason": choice["finish_reason"],
            "message": {"role": "assistant", "content": choice["text"]},
            "logprobs": {"content": content} if content is not None else None}


_UNSEEDED = itertools.count(10**6)  # a server that ignores `seed`: every request draws anew


def complete(backend, body: dict, logprobs: bool, seeds: bool) -> list[dict]:
    prompt, tok = body["prompt"], backend.tok
    if body.get("echo"):  # the prompt's own log-probs, the first one null
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            lsm = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0].float(), dim=-1)
        lps = [None] + [float(lsm[j - 1, t]) for j, t in enumerate(ids) if j]
        return [{"index": 0, "text": prompt, "finish_reason": "length",
                 "logprobs": {"tokens": [tok.decode([t]) for t in ids], "token_logprobs": lps} if logprobs else None}]
    n, temperature = body.get("n", 1), body.get("temperature", 1.0)
    seed = body.get("seed") if seeds and body.get("seed") is not None else next(_UNSEEDED)
    gens = backend.sample([SampleRequest(prompt, [seed + i for i in range(n)])], temperature=temperature or 1.0,
                          top_p=body.get("top_p", 1.0), max_new_tokens=body.get("max_tokens", 16),
                          stop_strings=body.get("stop"), greedy=temperature == 0)[0]
    out = []
    for i, g in enumerate(gens):
        ids = [t for t in g.token_ids if t != tok.eos_token_id]
        out.append({"index": i, "text": tok.decode(ids, skip_special_tokens=True),
                    "finish_reason": "stop" if g.finish == "stop" else "length",
                    "logprobs": {"tokens": [tok.decode([t]) for t in g.token_ids],
                                 "token_logprobs": g.token_logprobs} if logprobs else None})
    return out
