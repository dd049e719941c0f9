"""The openai backend against a real local HTTP server (tests/openai_server.py) answering with the tiny model."""

from __future__ import annotations

import pytest
from openai_server import serve

from ud import params
from ud.data.prompts import Format
from ud.engines.base import GreedyRequest, SampleRequest
from ud.engines.hf import HFBackend
from ud.engines.openai import OpenAIBackend
from ud.errors import ParamError, UDError


@pytest.fixture()
def hf(tiny):
    model, tok = tiny
    return HFBackend(model, tok)


def test_samples_are_seeded_and_carry_the_models_logprobs(hf, questions):
    server, url = serve(hf)
    try:
        b = OpenAIBackend(url, "tiny", hf.tok)
        assert b.capabilities == {"sample", "greedy", "continuation_logprobs", "logprobs", "seeded"}
        prompt = Format("qa").prompt(questions[0])
        a = b.sample([SampleRequest(prompt, [11, 12, 13])], max_new_tokens=6)[0]
        again = b.sample([SampleRequest(prompt, [13])], max_new_tokens=6)[0][0]
        assert a[2].text == again.text and a[2].logprob_sum == pytest.approx(again.logprob_sum)
        direct = hf.sample([SampleRequest(prompt, [13])], max_new_tokens=6)[0][0]  # the server's own model
        assert again.logprob_sum == pytest.approx(direct.logprob_sum, abs=1e-4) and again.n_tokens == direct.n_tokens
        greedy = b.greedy([GreedyRequest(prompt)], max_new_tokens=5)[0]
        assert greedy.text == hf.tok.decode(hf.generate([prompt], 1, do_sample=False, max_new_tokens=5)[0][0].token_ids,
                                            skip_special_tokens=True)
        cont = hf.encode_continuation(" blue")
        lp = b.continuation_logprobs([prompt], [[cont]])[0][0]
        assert lp == pytest.approx(hf.continuation_logprobs([prompt], [[cont]])[0][0], abs=1e-4)
        with pytest.raises(UDError, match="cannot constrain decoding"):
            b.sample([SampleRequest(prompt, [1], trie=object())])
        with pytest.raises(UDError, match="needs hidden states .*, which the openai backend does not give"):
            b.greedy([GreedyRequest(prompt)], hidden_layer=-1)
        for kind in ("logits", "hidden_states", "trie"):
            assert not b.supports(kind)
        with pytest.raises(UDError, match="P\\(True\\) needs full next-token logits"):
            b.require("logits", who="P(True)")
    finally:
        server.shutdown()


def test_a_server_without_logprobs_or_seeds_is_reported_not_faked(hf, questions):
    server, url = serve(hf, logprobs=False, seeds=False)
    try:
        b = OpenAIBackend(url, "tiny", hf.tok)
        assert "logprobs" not in b.capabilities and "seeded" not in b.capabilities
        prompt = Format("qa").prompt(questions[0])
        g = b.sample([SampleRequest(prompt, [1])], max_new_tokens=8)[0][0]
        assert g.logprob_sum is None and g.token_logprobs == []  # no number is invented
        with pytest.raises(UDError, match="no prompt log-probs"):
            b.continuation_logprobs([prompt], [[hf.encode_continuation(" blue")]])
    finally:
        server.shutdown()
    server, url = serve(hf)
    try:  # a typed error from the server, with its status
        with pytest.raises(UDError, match="HTTP 404"):
            OpenAIBackend(url + "/elsewhere", "tiny", hf.tok, max_retries=0).sample([SampleRequest("Hi", [1])])
    finally:
        server.shutdown()
    with pytest.raises(UDError, match="cannot reach the server"):
        OpenAIBackend("http://127.0.0.1:9", "x", hf.tok).capabilities


def test_the_trained_adapter_is_loaded_into_a_running_server(tiny, tmp_path):
    """model.load_trained: evaluate loads models/ud into the server under served_trained through vLLM's runtime LoRA
    endpoint, replacing what an earlier run loaded under that name (a retrained model); a fully fine-tuned folder and
    a server without the endpoint are clear errors."""
    import json

    model, tok = tiny
    hf = HFBackend(model, tok)
    first, second, full = tmp_path / "run1", tmp_path / "run2", tmp_path / "full"
    for folder, method in ((first, "lora"), (second, "lora"), (full, "full")):
        folder.mkdir()
        (folder / "ud_model.json").write_text(json.dumps({"method": method, "base": "tiny"}))
    loads = []
    server, url = serve(models={"tiny": hf}, load_lora=lambda path: loads.append(path) or hf)
    try:
        b = OpenAIBackend(url, "ud", tok, max_retries=0)
        b.load_adapter(str(first))
        b.load_adapter(str(second))  # the name is taken: unloaded, then loaded again from the new folder
        assert server.loras == {"ud": str(second.resolve())} and loads == [str(first.resolve()), str(second.resolve())]
        assert b.greedy([GreedyRequest("Hi")], max_new_tokens=3)[0].text == \
            hf.greedy([GreedyRequest("Hi")], max_new_tokens=3)[0].text
        with pytest.raises(UDError, match="not a LoRA adapter"):
            b.load_adapter(str(full))
    finally:
        server.shutdown()
    server, url = serve(hf)  # no runtime LoRA endpoint
    try:
        with pytest.raises(UDError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING"):
            OpenAIBackend(url, "ud", tok, max_retries=0).load_adapter(str(first))
    finally:
        server.shutdown()


def test_load_trained_needs_a_served_trained_model():
    from test_params import _with

    with pytest.raises(ParamError, match="model.load_trained"):
        params.validate(_with(model__load_trained=True))


def test_the_chat_endpoint_sends_the_messages_a_prompt_was_rendered_from(tagged_model_dir):
    """model.endpoint chat: the server gets the chat messages (and applies its template), so a seeded draw equals the
    completions endpoint's for the prompt rendered here; a plain prompt, the prompt log-probs that the endpoint does
    not give, and a plain prompt template are refused with what to change."""
    from test_params import _with

    tagged, _ = HFBackend.load(tagged_model_dir, chat=True)
    fmt = Format("reasoning", "letter", reasoning=True)
    q = {"id": "q", "question": "Which is red?", "choices": ["sky", "blood"], "answer": 1}
    server, url = serve(tagged)
    try:
        chat = OpenAIBackend(url, "tagged", tagged.tok, chat=True, endpoint="chat", max_retries=0)
        plain = OpenAIBackend(url, "tagged", tagged.tok, chat=True, max_retries=0)
        prompt = fmt.prompt(q, chat.tok)
        assert chat.tok.rendered[prompt][-1]["content"].startswith("Question: Which is red?")
        a = chat.sample([SampleRequest(prompt, [3, 4])], max_new_tokens=12)[0]
        b = plain.sample([SampleRequest(fmt.prompt(q, plain.tok), [3, 4])], max_new_tokens=12)[0]
        assert [g.text for g in a] == [g.text for g in b]
        assert [g.logprob_sum for g in a] == pytest.approx([g.logprob_sum for g in b])
        assert {"seeded", "logprobs"} <= chat.capabilities and "continuation_logprobs" not in chat.capabilities
        with pytest.raises(UDError, match="not rendered from chat messages"):
            chat.sample([SampleRequest("Question: Which is red?\nAnswer:", [1])])
        with pytest.raises(UDError, match="prompt log-probs"):
            chat.continuation_logprobs([prompt], [[[1, 2]]])
    finally:
        server.shutdown()
    with pytest.raises(UDError, match="needs a chat prompt"):
        OpenAIBackend(url, "tagged", tagged.tok, chat=False, endpoint="chat")
    with pytest.raises(ParamError, match="model.endpoint chat"):
        params.validate(_with(model__backend="openai", model__endpoint="chat"))
