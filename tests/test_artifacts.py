"""Artifacts: a manifest that refuses other profiles and changed files; training killed midway."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from l2m.artifacts import MANIFEST_FILE, ArtifactError, check_artifact, staged_folder
from l2m.config import get_profile
from l2m.workspace import Workspace

PROVENANCE = {"profile": "smoke", "seed": 0, "models": {"llm": "tiny"}}


def make_artifact(folder: Path, provenance: dict = PROVENANCE) -> Path:
    with staged_folder(folder, provenance) as staging:
        (staging / "params.bin").write_bytes(b"\x00\x01\x02")
        (staging / "config.json").write_text('{"a": 1}\n')
    return folder


def test_manifest_lists_every_file_and_checks_back(tmp_path):
    folder = make_artifact(tmp_path / "gate-x")
    manifest = check_artifact(folder, "smoke")
    assert set(manifest["files"]) == {"params.bin", "config.json"}
    assert manifest["seed"] == 0 and manifest["models"] == {"llm": "tiny"} and manifest["l2m_source"]


def test_an_artifact_of_another_profile_is_refused(tmp_path):
    folder = make_artifact(tmp_path / "gate-x")
    with pytest.raises(ArtifactError, match="made under profile 'smoke', not 'cpu'"):
        check_artifact(folder, "cpu")


def test_a_changed_file_is_refused(tmp_path):
    folder = make_artifact(tmp_path / "gate-x")
    (folder / "params.bin").write_bytes(b"\x00\x01\x03")
    with pytest.raises(ArtifactError, match="params.bin does not match the hash"):
        check_artifact(folder, "smoke")
    (folder / "params.bin").unlink()
    with pytest.raises(ArtifactError, match="params.bin is listed .* but missing"):
        check_artifact(folder, "smoke")


def test_a_folder_without_manifest_or_hashes_is_refused(tmp_path):
    folder = make_artifact(tmp_path / "gate-x")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps({k: v for k, v in manifest.items() if k != "files"}))
    with pytest.raises(ArtifactError, match="lists no file hashes"):
        check_artifact(folder, "smoke")
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactError, match="has no manifest.json"):
        check_artifact(folder, "smoke")


def test_a_failed_stage_writes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), staged_folder(tmp_path / "gate-x", PROVENANCE) as staging:
        (staging / "params.bin").write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_the_workspace_refuses_another_profiles_artifact(tmp_path):
    ws = Workspace(get_profile("smoke"), run_dir=tmp_path)
    make_artifact(tmp_path / "artifacts" / "aggregator_sft-x", PROVENANCE | {"profile": "cpu"})
    with pytest.raises(ArtifactError, match="not 'smoke'"):
        ws.artifact("aggregator_sft-x")
    make_artifact(tmp_path / "artifacts" / "aggregator_sft-y")
    assert ws.artifact("aggregator_sft-y") == tmp_path / "artifacts" / "aggregator_sft-y"


TARGET = Path(__file__).parent / "interrupt_training_target.py"


def start_training(out_dir: Path) -> tuple[subprocess.Popen, float]:
    """Start the training subprocess; returns it once its imports are done, with that moment."""
    process = subprocess.Popen([sys.executable, str(TARGET), str(out_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process, time.monotonic()


def finish_training(out_dir: Path) -> Path:
    process, _ = start_training(out_dir)
    folder = Path(process.stdout.readline().strip())
    assert process.wait() == 0
    return folder


def test_training_killed_midway_leaves_nothing_half_written_and_reruns_identically(tmp_path):
    process, started = start_training(tmp_path / "clean")
    clean = Path(process.stdout.readline().strip())
    training_seconds = time.monotonic() - started
    assert process.wait() == 0

    killed_dir = tmp_path / "killed"
    process, started = start_training(killed_dir)
    time.sleep(random.Random(0).uniform(0.2, 0.8) * training_seconds)  # somewhere inside the training
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Nothing a later stage would read: at most a hidden staging folder, never a partial artifact.
    assert [p for p in killed_dir.glob("scorers-*")] == []

    rerun = finish_training(killed_dir)
    assert rerun.name == clean.name
    files = check_artifact(rerun, "smoke")["files"]
    assert files["params.safetensors"] == check_artifact(clean, "smoke")["files"]["params.safetensors"]
    # The same config too, but for the wall time the training took.
    assert without_seconds(rerun / "config.json") == without_seconds(clean / "config.json")


def without_seconds(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "seconds"}
