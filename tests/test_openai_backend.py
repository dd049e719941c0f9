"""The openai backend against a real local HTTP server (tests/openai_server.py) answering with the tiny model."""

from __future__ import annotations

import pytest
from openai_server import serve

from ud.data.prompts import Format
from ud.engines.base import GreedyRequest, SampleRequest
from ud.engines.hf import HFBackend
from ud.engines.openai import OpenAIBackend
from ud.errors import UDError


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
