"""Stage evaluate: one generation per question from the distilled model, on the scored split (and, when it is test,
every domain-shift dataset) -> data/eval/ud.jsonl (answer, stated confidence, its label distribution and expected confidence, cost;
metrics come from the metrics stage). evaluate.label_rule decides the stated label (argmax | expected)."""

from ud import io, paths, stage, timings
from ud.data.prompts import Format
from ud.engines.registry import build_backend
from ud.method.binning import Binner
from ud.method.evaluate import distilled_answers
from ud.records import ANSWERS


def main(p):
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    binner = Binner.from_json(io.read_json(paths.BINNER))
    backend, _ = build_backend(p.model, chat=fmt.chat, trained=str(paths.UD_MODEL))
    records, clock = [], timings.PerSet()
    for name, qs in paths.eval_sets(p.scored):
        with clock.timing(name, len(qs)):
            preds = distilled_answers(backend, fmt, qs, binner, p.evaluate, p.normalize.equivalence,
                                      desc=f"evaluate ud on {name}")
        records += [dict(r, set=name) for r in preds]
    ANSWERS.write(paths.eval_file("ud"), records)
    timings.write("evaluate", {"per_answer": clock.per_answer})


if __name__ == "__main__":
    stage.run(main)
