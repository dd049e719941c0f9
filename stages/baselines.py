"""Stage baselines: every baseline of the paper, as one name to run (`dvc repro baselines`).

Each baseline is its own stage (prompting, greedy_*, lexical, pik, ptrue, semantic), so a change to one reruns only
that one; this stage depends on all of their answer records and prints how each did on the test split."""

from ud import paths, stage
from ud.baselines.registry import BASELINES
from ud.records import ANSWERS


def main(p):
    for method in BASELINES:
        records = [r for r in ANSWERS.read(paths.eval_file(method)) if r["set"] == p.scored]
        right = sum(bool(r["correct"]) for r in records)
        print(f"{method}: {len(records)} answers on the {p.scored} split, {right} right")


if __name__ == "__main__":
    stage.run(main)
