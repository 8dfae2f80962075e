"""Device and dtype choice, by measurement rather than assumption.

On CUDA the choice is bf16. On a CPU, bf16 only pays where the hardware multiplies bf16
natively (AMX or AVX512-BF16); on AVX2-only machines a bf16 prefill of SmolLM2 ran 4.5x
slower than fp32. So when the CPU advertises a bf16 instruction, a matmul of the model's
shape is timed in both dtypes and bf16 is taken only if it is clearly faster.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# The instruction sets a CPU's matmul speed depends on, as /proc/cpuinfo names them.
MATMUL_FLAGS = ("avx2", "avx512f", *BF16_FLAGS, "amx_tile")
# bf16 must beat fp32 by this factor to be worth its rounding.
BF16_MIN_SPEEDUP = 1.2
# Pins what "auto" resolves to ("float32" or "bfloat16"): a long run resumed on machines whose CPUs
# differ stays in one dtype. Episode logs are keyed by the profile's "auto", not by its outcome.
DTYPE_ENV = "L2M_DTYPE"


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    dtype: torch.dtype
    reason: str

    @property
    def dtype_name(self) -> str:
        """The dtype as a profile spells it ("float32", "bfloat16")."""
        return str(self.dtype).removeprefix("torch.")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def matmul_flags() -> list[str]:
    """Which of MATMUL_FLAGS this CPU has, in that order (what a timing on it should name)."""
    flags = cpu_flags()
    return [flag for flag in MATMUL_FLAGS if flag in flags]


def cpu_model_name() -> str:
    """The CPU's model name as lscpu reports it (figures say which machine made them)."""
    import platform
    import subprocess

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    names = [line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")]
    return names[0] if names else platform.processor()


def _matmul_seconds(dtype: torch.dtype, repeats: int = 10) -> float:
    # A prefill-sized product with SmolLM2's MLP shape: (256 tokens x 576) @ (576 x 1536).
    a, b = torch.randn(256, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return (time.perf_counter() - start) / repeats


@functools.lru_cache(maxsize=None)
def measured_cpu_dtype() -> tuple[torch.dtype, str]:
    flags = cpu_flags() & set(BF16_FLAGS)
    if not flags:
        return torch.float32, "fp32: the CPU has no bf16 instructions (no amx_bf16/avx512_bf16)"
    fp32, bf16 = _matmul_seconds(torch.float32), _matmul_seconds(torch.bfloat16)
    speedup = fp32 / bf16
    verdict = torch.bfloat16 if speedup >= BF16_MIN_SPEEDUP else torch.float32
    name = "bf16" if verdict is torch.bfloat16 else "fp32"
    return verdict, f"{name}: CPU has {', '.join(sorted(flags))}; bf16 matmul measured {speedup:.2f}x fp32"


def machine_description(dtype: str = "auto") -> str:
    """What a local model's seconds depend on: the processor (with its matmul instruction sets and
    torch's thread count on a CPU) and the dtype `dtype` resolves to there."""
    choice = choose_device(dtype)
    if choice.device == "cuda":
        processor = torch.cuda.get_device_name()
    else:
        flags = matmul_flags() or ["no AVX2"]
        processor = f"{cpu_model_name()} ({', '.join(flags)}), {torch.get_num_threads()} threads"
    return f"{processor}; {choice.dtype_name}"


def choose_device(dtype: str = "auto") -> DeviceChoice:
    """Device and dtype for a local model; dtype is 'auto', 'float32' or 'bfloat16'.

    'auto' takes the environment's L2M_DTYPE when set, else bf16 on CUDA and, on a CPU, the
    faster of the two by measurement.
    """
    how = "set explicitly"
    if dtype == "auto" and os.environ.get(DTYPE_ENV):
        dtype, how = os.environ[DTYPE_ENV], f"set by {DTYPE_ENV}"
    if dtype not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"unknown dtype {dtype!r} ({how}); choose auto, float32 or bfloat16")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype != "auto":
        return DeviceChoice(device, getattr(torch, dtype), f"{dtype}: {how}")
    if device == "cuda":
        return DeviceChoice(device, torch.bfloat16, "bf16: CUDA device")
    chosen, reason = measured_cpu_dtype()
    return DeviceChoice(device, chosen, reason)
