"""Stage ptrue: P(True), the base model asked whether its greedy answer is true, few-shot with calibration-split
examples -> data/eval/ptrue.jsonl (test, and the shift datasets when baselines.ptrue.shift)."""

from ud import io, paths, stage
from ud.backends import build_backend
from ud.baselines import ptrue
from ud.prompts import Format


def main(p):
    pt = p.baselines.ptrue
    backend, _ = build_backend(p.model, chat=Format.from_params(p.prompt).chat, scoring=True)
    shots = ptrue.fit({q["id"]: q for q in paths.questions("calibration")},
                      list(io.read_jsonl(paths.greedy_file("calibration"))), pt.shots, p.seed)
    greedy = {(r["set"], r["qid"]): r for r in io.read_jsonl(paths.greedy_file("eval"))}
    records = []
    for name, qs in paths.eval_sets(shift=pt.shift):
        records += ptrue.score(backend, shots, qs, [greedy[(name, q["id"])] for q in qs], desc=f"p(true) {name}")
    io.write_jsonl(paths.eval_file("ptrue"), records)


if __name__ == "__main__":
    stage.run(main)
