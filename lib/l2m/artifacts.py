"""Artifacts on disk: written whole or not at all, in formats that hold no code, checked on reading.

A trained artifact (an adapter, a gate, a hint) is a folder. It is written under a temporary
name next to its target and renamed when complete, so an interrupted run never leaves a partial
artifact that a later notebook would load. Tensors are safetensors and settings are json:
nothing is ever unpickled.

Each artifact carries manifest.json: what made it (profile, seed, models and whatever the stage
adds), the sha256 of every file in the folder and of the l2m source that wrote it. A stage that
reads an artifact calls `check_artifact`, which refuses one made under another profile or a file
whose hash no longer matches. (A run killed inside the rename window can leave a hidden
`.staging-*` folder beside the artifacts; nothing reads it, and it is safe to delete.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import load_file, save_file

PARAMS_FILE, CONFIG_FILE, MANIFEST_FILE = "params.safetensors", "config.json", "manifest.json"
SOURCE_ROOT = Path(__file__).parent


class ArtifactError(RuntimeError):
    """An artifact that must not be used: missing manifest, another profile, a changed file."""


def content_key(payload) -> str:
    """A 12-hex-digit key of a JSON-able payload (sorted keys): what an artifact's name hashes."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextmanager
def staged_folder(target: Path, manifest: dict | None = None) -> Iterator[Path]:
    """Yield an empty staging folder that becomes `target` when the block ends without error.

    With `manifest`, manifest.json is written last: those fields plus the hashes of every file
    written in the block (see write_manifest). If `target` appeared meanwhile (a concurrent run
    finished first), the staged copy is dropped.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".staging-{target.name}-"))
    try:
        yield staging
        if manifest is not None:
            write_manifest(staging, manifest)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_sha256() -> str:
    """One hash over the l2m package's Python source (what wrote an artifact; informational)."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(SOURCE_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def write_manifest(folder: Path, fields: dict) -> dict:
    """`folder`/manifest.json: `fields`, the sha256 of every other file in the folder, the source hash."""
    files = {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    manifest = {**fields, "files": files, "l2m_source": source_sha256()}
    write_json(folder / MANIFEST_FILE, manifest)
    return manifest


def check_artifact(folder: Path, profile: str) -> dict:
    """The manifest of `folder`, after checking it was made under `profile` and no file changed."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {MANIFEST_FILE}: it was not written whole by l2m; delete it to rebuild it")
    manifest = json.loads(path.read_text())
    if "files" not in manifest:
        raise ArtifactError(f"{path} lists no file hashes (written by an older l2m); delete {folder} to rebuild it")
    made_under = manifest.get("profile")
    if made_under != profile:
        raise ArtifactError(
            f"{folder} was made under profile {made_under!r}, not {profile!r}; "
            "artifacts of one profile are never used by another"
        )
    for name, digest in manifest["files"].items():
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder / name} is listed in {path} but missing")
        if file_sha256(folder / name) != digest:
            raise ArtifactError(f"{folder / name} does not match the hash in {path}: it changed after it was written")
    return manifest


def save_module(module: torch.nn.Module, target: Path, config: dict, manifest: dict | None = None) -> Path:
    """`target`/params.safetensors (the state dict) and `target`/config.json, written atomically."""
    with staged_folder(target, manifest) as staging:
        save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, staging / PARAMS_FILE)
        write_json(staging / CONFIG_FILE, config)
    return target


def load_config(folder: Path) -> dict:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved artifact: {CONFIG_FILE} is missing")
    return json.loads(path.read_text())


def load_module_state(module: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """Fill `module` from `folder`/params.safetensors; every tensor must match by name and shape."""
    module.load_state_dict(load_file(Path(folder) / PARAMS_FILE))
    return module
