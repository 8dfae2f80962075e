"""A run killed with SIGKILL part-way, then rerun, equals a run never interrupted."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from interrupt_target import run

N = 12


def log_of(run_dir: Path) -> Path:
    (path,) = run_dir.glob("episodes/*/FUMemory.jsonl")
    return path


def rewards(path: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["question_id"] for r in rows]
    assert len(ids) == len(set(ids)), "an episode was logged twice"
    return {r["question_id"]: (r["reward"], r["answer"], r["steps"]) for r in rows}


def test_killed_run_resumes_to_the_same_results(tmp_path):
    clean = tmp_path / "clean"
    run(clean, N)
    killed = tmp_path / "killed"
    target = Path(__file__).parent / "interrupt_target.py"
    process = subprocess.Popen([sys.executable, str(target), str(killed), str(N)])
    deadline = time.time() + 120
    logs = []
    while time.time() < deadline and (not logs or logs[0].read_text().count("\n") < 2):
        time.sleep(0.05)
        logs = list(killed.glob("episodes/*/FUMemory.jsonl"))
    log = logs[0]
    time.sleep(random.Random(0).uniform(0.0, 0.3))  # somewhere inside the run
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = log.read_text().count("\n")
    assert 2 <= partial < N, f"the kill should land part-way, got {partial} of {N} episodes"
    run(killed, N)
    assert log_of(killed) == log
    assert rewards(log) == rewards(log_of(clean))
    assert len(rewards(log)) == N
