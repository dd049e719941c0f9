"""Multi-claim outputs (Appendix A.2): parsing, clustering across samples, frequencies, SFT targets, scoring.

A fake backend plays recorded claim sets (the 135M default model cannot write JSON claims); the real sampler is
checked on the tiny random Llama."""

import json
from types import SimpleNamespace

import pytest

from ud import io
from ud.engines.base import Engine, Generation, stable_seed
from ud.errors import DataError
from ud.method import claims
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator
from ud.method.claims import ClaimEquivalence

FLARES = "Caltech scientists recreated solar flares in a lab."
FORECAST = "The work could improve space weather forecasts."
WRONG = "Solar flares were created on Mars."
DOC = {"id": "d1", "document": "Solar flares ... Caltech ... forecasts.", "facts": [FLARES, FORECAST]}


def _json(*texts, conf="high"):
    return json.dumps({"claims": [{"text": t, "confidence": conf} for t in texts]})


# sample k of d1, by k % 4: both facts / a fenced variant of fact 1 + a wrong claim / no JSON / fact 1 twice
PLAYBOOK = [
    _json(FLARES, FORECAST),
    "Sure!\n```json\n" + _json("caltech scientists recreated solar flares in a lab", WRONG) + "\n```",
    "I cannot summarize this.",
    _json(FLARES, "Caltech scientists recreated solar flares in a lab!"),
]


class FakeBackend(Engine):
    """Recorded outputs by sample seed; counts the requests it serves."""

    name = "fake"
    capabilities = frozenset({"sample", "greedy", "seeded"})

    def __init__(self, docs, n, seed=0):
        super().__init__(SimpleNamespace(apply_chat_template=lambda m, **kw: "USER: " + m[0]["content"],
                                         chat_template="x"), chat=True)
        self.k_of = {stable_seed(seed, d["id"], k): k for d in docs for k in range(n)}
        self.served = []

    def sample(self, requests, **kw):
        out = []
        for r in requests:
            assert r.prompt.startswith("USER: Read the following document")
            self.served.extend(self.k_of[s] for s in r.seeds)
            out.append([Generation(PLAYBOOK[self.k_of[s] % 4], 7, -1.0, -0.1, "stop", []) for s in r.seeds])
        return out

    def greedy(self, requests, **kw):  # a confident right claim and an unsure wrong one
        return [Generation(json.dumps({"claims": [{"text": FLARES, "confidence": "very high"},
                                                  {"text": WRONG, "confidence": "very low"}]}),
                           9, -1.0, -0.1, "stop", []) for _ in requests]


@pytest.mark.parametrize("text, expected", [
    (_json("A fact.", "Another."), ["A fact.", "Another."]),
    ("Here you go:\n```json\n" + _json("A fact.") + "\n```\nDone.", ["A fact."]),
    ('{"claims": ["bare string claim", {"text": ""}, {"confidence": "high"}, {"text": "  spaced   out "}]}',
     ["bare string claim", "spaced out"]),
    ('{"other": 1} then {"claims": [{"text": "second object"}]}', ["second object"]),
    (_json("Same.", "same."), ["Same."]),
    ('```json\n[{"text": "bare array", "confidence": 0.9}, {"text": "of claims"}]\n```', ["bare array", "of claims"]),
    ('{"claims": []}', []),
])
def test_parse_reads_claims_from_json_anywhere_in_the_text(text, expected):
    assert [c["text"] for c in claims.parse(text)] == expected


@pytest.mark.parametrize("text", ["no json here", '{"claims": "not a list"}', '{"claims": [1, 2', "[]", "[1, 2]",
                                  '[{"no_text": 1}]'])
def test_parse_returns_none_for_invalid_output(text):
    assert claims.parse(text) is None


def test_label_index_reads_verbal_confidences_loosely():
    binner = Binner.fixed(5)
    assert [claims.label_index(x, binner) for x in ("VERY HIGH", "very-high", "Very  high", "medium", "sure", None)] \
        == [4, 4, 4, 2, None, None]
    # numbers a model writes instead of words land in their bin
    assert [claims.label_index(x, binner) for x in ("0.9", "0.1", "1", "55%", "1.5", "high")] \
        == [4, 0, 4, 2, None, 3]


def test_cluster_counts_each_sample_once_and_marks_facts_correct():
    parsed = [claims.parse(PLAYBOOK[k % 4]) for k in range(8)]
    cs = claims.cluster(DOC, parsed, ClaimEquivalence(["text"]))
    assert (cs["n"], cs["valid"], cs["invalid"]) == (8, 6, 2)
    by_fact = {c["fact"]: c for c in cs["classes"]}
    flares, forecast = by_fact[FLARES], by_fact[FORECAST]
    wrong = next(c for c in cs["classes"] if c["fact"] is None)
    # fact 1 is in every valid sample (k=3 says it twice: counted once), fact 2 in k=0,4, the wrong claim in k=1,5
    assert flares["count"] == 6 and flares["f"] == 1.0 and flares["sample_ks"] == [0, 1, 3, 4, 5, 7]
    assert flares["surface_forms"] == 3  # text normalization merged the lower-case and the "!" variants
    assert forecast["f"] == pytest.approx(2 / 6) and wrong["f"] == pytest.approx(2 / 6)
    assert (flares["correct"], forecast["correct"], wrong["correct"]) == (True, True, False)
    assert cs["classes"][0] is flares and cs["facts_found"] == 2
    # each valid sample lists the classes of its claims, in the order written
    k1 = next(s for s in cs["samples"] if s["k"] == 1)
    assert [cs["classes"][i]["key"] for i in k1["classes"]] == [flares["key"], wrong["key"]]


def test_cluster_without_facts_has_unknown_correctness():
    parsed = [claims.parse(PLAYBOOK[k % 4]) for k in range(4)]
    cs = claims.cluster(dict(DOC, facts=None), parsed, ClaimEquivalence())
    assert all(c["correct"] is None for c in cs["classes"]) and claims.points([cs]) == ([], [])


def test_pairwise_equivalence_merges_what_keys_keep_apart():
    calls = []

    def same(a, b):  # a stand-in NLI: equal when they share "caltech"
        calls.append((a, b))
        return "caltech" in a.lower() and "caltech" in b.lower()

    parsed = [[{"text": "Scientists at Caltech made solar flares."}], [{"text": FLARES}], [{"text": WRONG}]]
    cs = claims.cluster(DOC, parsed, ClaimEquivalence(["text"], same))
    flares = next(c for c in cs["classes"] if c["fact"] == FLARES)
    assert flares["count"] == 2 and flares["correct"] and flares["surface_forms"] == 2
    assert calls[0] == ("Scientists at Caltech made solar flares.", FLARES)  # compared to the facts first
    assert claims.grade_claim("Caltech did it", DOC, ClaimEquivalence(["text"], same)) is True
    assert claims.grade_claim(WRONG, DOC, ClaimEquivalence(["text"])) is False


def test_distill_calibrates_claims_and_labels_sft_targets():
    fake = FakeBackend([DOC], 8)
    records = claims.unit_drawer(fake, 0)([DOC], list(range(8)))
    assert [r["k"] for r in records] == list(range(8)) and sorted(fake.served) == list(range(8))
    res = claims.distill([DOC], records, ClaimEquivalence(), bins=5, sets=3, seed=0)
    s = res["summary"]
    assert (s["samples"], s["invalid_samples"], s["invalid_rate"]) == (8, 2, 0.25)
    assert s["labelled_claims"] == 3 and s["claim_accuracy"] == pytest.approx(2 / 3) and s["facts_found"] == 1.0
    # isotonic on (f, correct) = (1, 1), (1/3, 1), (1/3, 0): 1/3 -> 0.5 ("medium"), 1 -> 1.0 ("very high")
    cal = res["calibrator"]
    assert cal([1 / 3, 1.0]).tolist() == pytest.approx([0.5, 1.0])
    expected = {FLARES.lower().rstrip("."): "very high", FORECAST.lower().rstrip("."): "medium",
                WRONG.lower().rstrip("."): "medium"}
    assert len(res["examples"]) == 3  # `sets` distinct valid samples of the one document
    for ex in res["examples"]:
        written = claims.parse(ex["completion"][0]["content"])  # the target reads back as claims
        assert written and [c["text"] for c in written] == [c["text"] for c in ex["claims"]]
        for c in written:
            assert c["confidence"] == expected[c["text"].lower().rstrip(".!")]
        assert "Each confidence is one of: very low, low, medium, high, very high." in ex["prompt"][0]["content"]


def test_claims_draw_through_the_unit_cache_and_resume(tmp_path):
    from ud.sampling.draws import draw

    docs = [DOC, dict(DOC, id="d2")]
    fake = FakeBackend(docs, 4)
    prompts = [claims.prompt(d) for d in docs]
    first = draw(docs, prompts, 4, tmp_path, {"claims": 1}, chunk=1, block=4, numerics={},
                 compute=claims.unit_drawer(fake, 0))
    assert first.units_computed == 2 and [(r["qid"], r["k"]) for r in first.records][:2] == [("d1", 0), ("d1", 1)]
    next(tmp_path.glob("*/c00001-b000.jsonl")).unlink()  # d2's unit lost, as in a killed run
    fake.served.clear()
    again = draw(docs, prompts, 4, tmp_path, {"claims": 1}, chunk=1, block=4, numerics={},
                 compute=claims.unit_drawer(fake, 0))
    assert again.records == first.records and (again.units_cached, again.units_computed) == (1, 1)
    assert sorted(fake.served) == [0, 1, 2, 3]  # only d2's samples were drawn again
    other = draw(docs, prompts, 4, tmp_path, {"claims": 2}, chunk=1, block=4, numerics={},
                 compute=claims.unit_drawer(fake, 0))
    assert other.units_cached == 0  # another definition never reads this one's units


def test_score_and_metrics_per_claim():
    binner = Binner.fixed(5)
    out = json.dumps({"claims": [{"text": FLARES, "confidence": "VERY HIGH"}, {"text": WRONG, "confidence": "low"},
                                 {"text": "Unrelated.", "confidence": "certain"}]})
    scored = [claims.score(DOC, out, binner, ClaimEquivalence()),
              claims.score(DOC, "no json", binner, ClaimEquivalence())]
    assert [(c["bin"], c["correct"]) for c in scored[0]["claims"]] == [(4, True), (1, False), (None, False)]
    m, rel = claims.metrics("claims_ud", scored, binner)
    # positives {bin 4}, negatives {bin 1, unreadable -> bin 0}: perfectly ranked
    assert m["n"] == 3 and m["auroc"] == 1.0 and m["accuracy"] == pytest.approx(1 / 3)
    assert m["invalid_generations"] == 1 and m["confidence_invalid_rate"] == pytest.approx(1 / 3)
    assert m["claims_per_document"] == 1.5


def test_real_sampler_draws_reproducible_claim_samples(tiny):
    model, tok = tiny
    from ud.engines.hf import HFBackend

    backend = HFBackend(model, tok, chat=False)
    docs = [DOC, dict(DOC, id="d2", document="Another short document.")]
    a = claims.unit_drawer(backend, 1, max_new_tokens=12)(docs, [0, 1, 2])
    b = [r for d in docs[::-1] for r in claims.unit_drawer(backend, 1, max_new_tokens=12)([d], [0, 1, 2])]
    key = lambda rs: sorted((r["qid"], r["k"], r["text"]) for r in rs)  # noqa: E731
    assert key(a) == key(b)  # a sample depends on its seed, not on batching or order
    res = claims.distill(docs, a, ClaimEquivalence())
    # a random model writes no JSON: every sample is an explicit invalid one, and nothing is made up
    invalid = sum(claims.parse(r["text"]) is None for r in a)
    assert res["summary"]["invalid_samples"] == invalid and len(res["examples"]) == 6 - invalid


def test_pipeline_distill_writes_resumes_and_keeps_other_settings_apart(tmp_path, monkeypatch):
    from ud.method import claims_run as stage

    docs_path = tmp_path / "docs.jsonl"
    io.write_jsonl(docs_path, [DOC])
    fakes = []

    def fake_backend(model_id, dtype="float32"):
        fakes.append(FakeBackend([DOC], 8))
        return fakes[-1], SimpleNamespace(revision="fake")

    monkeypatch.setattr(stage, "_backend", fake_backend)
    kw = dict(model_id="fake", n=8, seed=0, max_claims=5, temperature=1.0, top_p=1.0, max_new_tokens=64, chunk=1,
              normalizers=["text"], cluster=None, nli_model=None, calibrate="isotonic", bins=5, binning="fixed",
              sets=1)
    out = tmp_path / "run"
    s1 = stage.distill(str(docs_path), str(out), **kw)
    assert s1["invalid_samples"] == 2 and s1["reused_samples"] == 0
    assert {p.name for p in out.iterdir()} >= {"samples.jsonl", "samples.meta.json", "claims.jsonl",
                                                "calibrator.json", "binner.json", "sft.jsonl", "summary.json"}
    Calibrator.from_json(io.read_json(out / "calibrator.json"))  # JSON, not pickle
    s2 = stage.distill(str(docs_path), str(out), **kw)  # a rerun draws nothing
    assert s2["reused_samples"] == 8 and fakes[-1].served == []
    assert {k: v for k, v in s2.items() if k != "reused_samples"} == \
        {k: v for k, v in s1.items() if k != "reused_samples"}
    [unit] = (out / "cache").glob("*/c00000-b000.jsonl")  # a unit cut mid-write by a kill: found and drawn again
    unit.write_bytes(unit.read_bytes()[:50])
    s3 = stage.distill(str(docs_path), str(out), **kw)
    assert s3["reused_samples"] == 0 and sorted(fakes[-1].served) == list(range(8))
    assert [json.loads(line)["k"] for line in (out / "samples.jsonl").read_text().splitlines()] == list(range(8))
    s4 = stage.distill(str(docs_path), str(out), **dict(kw, temperature=0.7))  # other settings: their own units
    assert s4["reused_samples"] == 0 and len(list((out / "cache").iterdir())) == 2


def test_documents_need_text(tmp_path):
    from ud.method.claims_run import load_documents

    p = tmp_path / "d.jsonl"
    io.write_jsonl(p, [{"id": "x", "facts": ["a"]}])
    with pytest.raises(DataError, match="line 1 has no 'document'"):
        load_documents(str(p))


def test_cli_distill_then_evaluate_a_base_model(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ud.cli import app
    from ud.method import claims_run as stage

    docs_path = tmp_path / "docs.jsonl"
    io.write_jsonl(docs_path, [DOC, dict(DOC, id="d2")])
    monkeypatch.setattr(stage, "_backend", lambda model_id, dtype="float32": (
        FakeBackend([DOC, dict(DOC, id="d2")], 4), SimpleNamespace(revision="fake")))
    runner, out = CliRunner(), tmp_path / "run"
    r = runner.invoke(app, ["claims", "distill", str(docs_path), str(out), "-n", "4", "--model", "fake"],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert io.read_json(out / "summary.json")["invalid_samples"] == 2  # k=2 of each document
    r = runner.invoke(app, ["claims", "evaluate", str(docs_path), str(out), "--base", "fake"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    m = io.read_json(out / "claims_base.metrics.json")
    assert m["n"] == 4 and m["auroc"] == 1.0 and m["accuracy"] == 0.5 and m["invalid_generations"] == 0
    r = runner.invoke(app, ["claims", "distill", str(tmp_path / "missing.jsonl"), str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "missing.jsonl" in r.output


def test_claim_judge_uses_its_own_prompt_and_verdict_words(tmp_path):
    from ud.method.clustering import JudgeClusterer

    class Judge(Engine):  # "same" when both statements mention Caltech
        prompts = []

        def greedy(self, requests, **kw):
            self.prompts.extend(r.prompt for r in requests)
            p = requests[0].prompt
            return [Generation(" Same." if p.count("Caltech") == 2 else "different", 2, 0.0, 0.0, "stop", [])]

    j = JudgeClusterer(Judge(None, chat=False), "judge-model", tmp_path / "judge.jsonl", prompt=claims.JUDGE_PROMPT,
                       verdicts=claims.JUDGE_VERDICTS)
    eq = ClaimEquivalence(["text"], j.equivalent)
    parsed = [[{"text": "Caltech made solar flares."}], [{"text": WRONG}]]
    cs = claims.cluster(DOC, parsed, eq)
    assert cs["classes"][0]["fact"] == FLARES and cs["classes"][0]["count"] == 1  # "same" joined the fact
    assert all(p.startswith("Here are two statements summarizing a document") for p in Judge.prompts)
    keys = [json.loads(line)["key"] for line in (tmp_path / "judge.jsonl").read_text().splitlines()]
    prompt_id = __import__("hashlib").sha256(claims.JUDGE_PROMPT.encode()).hexdigest()[:12]
    assert keys and all(json.loads(k)[:2] == ["judge-model", prompt_id] for k in keys)  # this judge, this prompt
