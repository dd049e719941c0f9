"""Stage prompting: the base model asked for its answer and a verbal confidence (Appendix E.1)
-> data/eval/prompting.jsonl (the scored split, and the shift datasets when baselines.prompting.shift)."""

from ud import paths, stage, timings
from ud.baselines import prompting
from ud.engines.registry import build_backend
from ud.records import ANSWERS


def main(p):
    b = p.baselines.prompting
    backend, _ = build_backend(p.model, chat=True)
    records, clock = [], timings.PerSet()
    for name, qs in paths.eval_sets(p.scored, shift=b.shift):
        with clock.timing(name, len(qs)):
            records += prompting.score(backend, qs, b, p.normalize.equivalence, desc=f"prompting {name}")
    ANSWERS.write(paths.eval_file("prompting"), records)
    timings.write("prompting", {"per_answer": clock.per_answer})


if __name__ == "__main__":
    stage.run(main)
