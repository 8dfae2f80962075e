"""Artifacts on disk: written whole or not at all, in formats that hold no code.

A trained artifact (an adapter, a gate, a hint) is a folder. It is written under a temporary
name next to its target and renamed when complete, so an interrupted run never leaves a partial
artifact that a later notebook would load. Tensors are safetensors and settings are json:
nothing is ever unpickled.
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

PARAMS_FILE, CONFIG_FILE = "params.safetensors", "config.json"


def content_key(payload) -> str:
    """A 12-hex-digit key of a JSON-able payload (sorted keys): what an artifact's name hashes."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder that becomes `target` when the block ends without error.

    If `target` appeared meanwhile (a concurrent run finished first), the staged copy is dropped.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".staging-{target.name}-"))
    try:
        yield staging
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")


def save_module(module: torch.nn.Module, target: Path, config: dict) -> Path:
    """`target`/params.safetensors (the state dict) and `target`/config.json, written atomically."""
    with staged_folder(target) as staging:
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
