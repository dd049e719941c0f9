"""Stage evaluate: one generation per test question from the distilled model -> metrics/ud.json."""
from ud.pipeline import evaluate
from ud.stage import run_stage

run_stage(evaluate.run)
