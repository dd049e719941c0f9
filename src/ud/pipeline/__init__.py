"""What each DVC stage does, as functions of the params dict. Stage scripts and the CLI both call these.

Paths live in `paths.py` (and match dvc.yaml); every artifact is JSON/JSONL with the fields documented in its module.

One module per stage (each stage in dvc.yaml depends on its own module); `paths` holds the layout.
"""
