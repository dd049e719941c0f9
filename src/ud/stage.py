"""Shared entry for the thin scripts in stages/: validate params first, turn known errors into one clear line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ud.errors import UDError


def run_stage(fn: Callable[[dict], object], check_model: bool = False, params_file: str = "params.yaml") -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline by default; export HF_HUB_OFFLINE=0 to use the hub
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ud import params

    try:
        p = params.load(params_file, check_model=check_model)
        fn(p)
    except UDError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
