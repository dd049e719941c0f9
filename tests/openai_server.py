"""A small OpenAI-compatible HTTP server (the legacy /v1/completions endpoint) that answers with a local model
through ud's HF backend: what the openai backend's tests talk to, over real HTTP. `logprobs` and `seeds` switch off
those features, to check that a server without them is reported as such. `models` maps served names to backends
(or to functions that load one on first request, as a server loads an adapter once it exists); `asked` counts the
requests per name."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from ud.engines.base import SampleRequest


def serve(backend=None, logprobs: bool = True, seeds: bool = True,
          models: dict | None = None) -> tuple[ThreadingHTTPServer, str]:
    lock = threading.Lock()  # one model, one request at a time
    loaded: dict = {}

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
            if self.path != "/v1/completions":
                self.send_error(404)
                return
            with lock:
                served = model_for(body.get("model"))
                if served is None:
                    self.send_error(404, f"no model {body.get('model')!r}")
                    return
                server.asked[body.get("model")] = server.asked.get(body.get("model"), 0) + 1
                choices = complete(served, body, logprobs, seeds)
            data = json.dumps({"object": "text_completion", "model": body.get("model"), "choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.asked = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


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
