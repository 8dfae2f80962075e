"""What every benchmark script shares: the machine it ran on, and writing its json report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from l2m.models.device import cpu_model_name, matmul_flags

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "flags": sorted(matmul_flags()),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def new_report(benchmark: str, args, **extra) -> dict:
    return {"benchmark": benchmark, **extra, "machine": machine(), "settings": vars(args) | {"out": None}, "runs": []}


def write_report(report: dict, out: Path) -> None:
    """Write under a temporary name, then rename: an interrupted run never leaves half a report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    print(f"machine: {report['machine']['cpu']} ({', '.join(report['machine']['flags'])}); wrote {out}")
