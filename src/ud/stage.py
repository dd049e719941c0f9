"""How a stage script runs: `stage.run(main)` loads and validates params.yaml (before any compute), calls
main(params), and turns a UDError (bad params, missing inputs) into one clear line and exit code 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ud.errors import UDError


def run(main: Callable, *args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline by default; export HF_HUB_OFFLINE=0 to use the hub
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ud import params

    try:
        main(params.load(), *args)
    except UDError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
