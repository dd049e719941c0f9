"""The openai backend against a real local HTTP server (tests/openai_server.py) answering with the tiny model."""

from __future__ import annotations

import pytest
from openai_server import serve

from ud.data.prompts import Format
from ud.engines.base import SampleRequest
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
        assert b.capabilities == {"logprobs": True, "seed": True}
        prompt = Format("qa").prompt(questions[0])
        a = b.sample([SampleRequest(prompt, [11, 12, 13])], max_new_tokens=6)[0]
        again = b.sample([SampleRequest(prompt, [13])], max_new_tokens=6)[0][0]
        assert a[2].text == again.text and a[2].logprob_sum == pytest.approx(again.logprob_sum)
        direct = hf.sample([SampleRequest(prompt, [13])], max_new_tokens=6)[0][0]  # the server's own model
        assert again.logprob_sum == pytest.approx(direct.logprob_sum, abs=1e-4) and again.n_tokens == direct.n_tokens
        greedy = b.generate([prompt], 1, do_sample=False, max_new_tokens=5)[0][0]
        assert greedy.text == hf.tok.decode(hf.generate([prompt], 1, do_sample=False, max_new_tokens=5)[0][0].token_ids,
                                            skip_special_tokens=True)
        cont = hf.encode_continuation(" blue")
        lp = b.continuation_logprobs([prompt], [[cont]])[0][0]
        assert lp == pytest.approx(hf.continuation_logprobs([prompt], [[cont]])[0][0], abs=1e-4)
        with pytest.raises(UDError, match="cannot constrain decoding"):
            b.sample([SampleRequest(prompt, [1], trie=object())])
        with pytest.raises(UDError, match="no hidden states"):
            b.generate([prompt], hidden_layer=-1)
    finally:
        server.shutdown()


def test_a_server_without_logprobs_or_seeds_is_reported_not_faked(hf, questions):
    server, url = serve(hf, logprobs=False, seeds=False)
    try:
        b = OpenAIBackend(url, "tiny", hf.tok)
        caps = b.capabilities
        assert caps["logprobs"] is False
        prompt = Format("qa").prompt(questions[0])
        g = b.sample([SampleRequest(prompt, [1])], max_new_tokens=8)[0][0]
        assert g.logprob_sum is None and g.token_logprobs == []  # no number is invented
        with pytest.raises(UDError, match="no prompt log-probs"):
            b.continuation_logprobs([prompt], [[hf.encode_continuation(" blue")]])
    finally:
        server.shutdown()
    assert OpenAIBackend("http://127.0.0.1:9", "x", hf.tok)._post is not None
    with pytest.raises(UDError, match="cannot reach the server"):
        OpenAIBackend("http://127.0.0.1:9", "x", hf.tok).capabilities
