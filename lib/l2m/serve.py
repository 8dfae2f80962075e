"""A vLLM server for a profile's LLM, started and stopped by the project.

    python -m l2m.serve --profile cpu -- papermill notebooks/01_memory_cycle.ipynb out.ipynb

starts vLLM (from its own venv, .venv-vllm: vLLM pins a transformers older than the project's)
on 127.0.0.1, waits until /health answers, runs the command with L2M_LLM_ENDPOINT pointing at
it, and stops the server when the command ends, fails or is interrupted. `./reproduce.sh
--engine vllm` runs the notebooks this way.

The server loads the profile's LLM from the folder the in-process engine loads (a GGUF model's
safetensors conversion), in the dtype the in-process engine would choose here (L2M_DTYPE pins
it), under the profile's model name, with LoRA enabled and runtime adapter loading on, so every
adapter a method needs (l2m.models.llm.OpenAIChatModel) is loaded on first use. On a CPU the
server's processes also load l2m/vllm_site/sitecustomize.py, which replaces vLLM's CPU LoRA ops
by grouped matmuls (the pinned vLLM's own take minutes per adapted prompt).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from l2m.config import REPO_ROOT, Profile, get_profile
from l2m.models.device import choose_device
from l2m.models.llm import converted_folder
from l2m.models.registry import resolve_model

VLLM_VENV = REPO_ROOT / ".venv-vllm"
VLLM_SITE = Path(__file__).parent / "vllm_site"
# The project's server listens here unless told otherwise: the endpoint's URL is part of the keys
# of cached generations and logged episodes, so a fixed port lets a rerun reuse them.
DEFAULT_PORT = 8300


class ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerSettings:
    port: int = DEFAULT_PORT
    # Longest prompt plus generation, in tokens (the small profiles' prompts stay under 3,000).
    max_model_len: int = 4096
    # KV cache in GiB (vLLM's CPU backend reserves it up front).
    kv_cache_gib: int = 4
    # LoRA: the largest rank of an adapter or summed rank of a stack it can serve, and how many
    # adapters one batch may mix. Every LoRA slot is padded to max_lora_rank, which costs compute
    # on every adapted request: 16 serves the agent adapter and Ours-U's SFT+DPO stack; Ours-on's
    # stacks (2 + 2 per epoch adapters of rank 8) need 128.
    max_lora_rank: int = 16
    max_loras: int = 4
    startup_seconds: float = 900.0


def vllm_python() -> Path:
    """The interpreter with vLLM: $L2M_VLLM_PYTHON, else the project's .venv-vllm."""
    python = Path(os.environ.get("L2M_VLLM_PYTHON", VLLM_VENV / "bin" / "python"))
    if not python.is_file():
        raise ServerError(
            f"no vLLM interpreter at {python}: `./reproduce.sh --engine vllm` creates {VLLM_VENV.name} "
            "from requirements-vllm.txt, or set L2M_VLLM_PYTHON to a python with vllm installed"
        )
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class VLLMServer:
    """`with VLLMServer(profile) as server:` a running server at `server.url`, stopped on exit."""

    def __init__(self, profile: Profile, settings: ServerSettings = ServerSettings(), log_path: Path | None = None):
        self.profile, self.settings = profile, settings
        self.log_path = log_path or profile.run_dir / "tmp" / f"vllm-{settings.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}/v1"

    def command(self) -> list[str]:
        s, python = self.settings, vllm_python()
        model = converted_folder(resolve_model(self.profile.llm))
        return [
            str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model), "--served-model-name", self.profile.llm,
            "--dtype", choose_device(self.profile.dtype).dtype_name,
            "--max-model-len", str(s.max_model_len), "--seed", "0",
            "--host", "127.0.0.1", "--port", str(s.port),
            "--enable-lora", "--max-lora-rank", str(s.max_lora_rank), "--max-loras", str(s.max_loras),
        ]  # fmt: skip

    def __enter__(self) -> "VLLMServer":
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.settings.port)) == 0:
                raise ServerError(f"port {self.settings.port} is taken; stop what listens there or pass another --port")
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(VLLM_SITE), os.environ.get("PYTHONPATH")])),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", str(self.settings.kv_cache_gib)),
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            # A session of its own: stopping it stops vLLM's engine processes too.
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"vLLM exited with code {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                if httpx.get(self.url.removesuffix("/v1") + "/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise ServerError(
            f"vLLM did not answer /health within {self.settings.startup_seconds:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="whose LLM to serve (default: $L2M_PROFILE, else smoke)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--max-lora-rank", type=int, default=ServerSettings.max_lora_rank, help="largest adapter (stack) rank served"
    )
    parser.add_argument("command", nargs="+", help="what to run against the server (after --)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    try:
        with VLLMServer(profile, ServerSettings(port=args.port, max_lora_rank=args.max_lora_rank)) as server:
            print(f"== vLLM serving {profile.llm} at {server.url} (log: {server.log_path})", flush=True)
            return subprocess.call(args.command, env=os.environ | {"L2M_LLM_ENDPOINT": server.url})
    except ServerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
