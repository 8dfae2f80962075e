"""Off-policy optimization (PAPER §5): trajectories of Ours-def on the training pool, then training.

The sampling questions come from the training pool AFTER the ones whose demonstrations trained
the small profiles' agent adapter: on those the agent has seen the answers, so its successes
there would not reflect the memory. The paper sampled 4000 training questions; each profile sets
its own number (`offpolicy_questions`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from l2m.artifacts import content_key, load_config, load_module_state, save_module
from l2m.data.hotpotqa import HotpotRecord
from l2m.models import load_llm
from l2m.retrieval.gate import GateSettings, MoEGate, ScoreModel
from l2m.retrieval.training import (
    RetrievalTrainSettings,
    empty_history,
    pair_batch,
    ranked_recalls,
    train_retrieval,
)
from l2m.storage.records import reflection_order, split_by_success, store_records
from l2m.storage.reflection import ReflectionSettings, learn_hint, save_hint
from l2m.training.sft import SFTSettings
from l2m.utilization.expert import ProgrammaticMerge, model_merges
from l2m.utilization.samples import MergeSample, merge_samples
from l2m.utilization.training import AGGREGATOR_SFT, DPOSettings, train_dpo_aggregator, train_sft_aggregator

SAMPLER = "Ours-def"


def sampling_records(ws) -> list[HotpotRecord]:
    p = ws.profile
    start = p.agent_adapter_questions + p.agent_reading_questions
    return ws.splits["train"][start : start + p.offpolicy_questions]


def sample_trajectories(ws) -> list[dict]:
    """Ours-def episodes on the sampling questions (logged and resumable like every run)."""
    return ws.run_method(SAMPLER, sampling_records(ws))


def gate_key(ws, settings: RetrievalTrainSettings, gate: GateSettings) -> str:
    payload = {
        "episodes": ws.episodes_dir.name,
        "questions": [r.id for r in sampling_records(ws)],
        "criterion": ws.profile.success_criterion,
        "scorers": ws.scorers_folder.name,
        "training": settings.as_dict(),
        "gate": gate.as_dict(),
    }
    return content_key(payload)


def train_gate(ws, settings: RetrievalTrainSettings, gate_settings: GateSettings | None = None) -> Path:
    """The retrieval artifact: pairs from the successful trajectories, the gate trained on them,
    starting from a gate initialised by `gate_settings` (default: the paper's, seeded by the profile).

    With no successful trajectory there is nothing to learn from: the untrained gate is saved,
    with `"successes": 0` in its config.json, and a warning says so.

    Saved as runs/<profile>/artifacts/gate-<key>/ (params.safetensors + config.json with the
    training history and the pair counts); an artifact with the same key is reused. With
    `settings.trained == "all"` the scorers are trained too and saved with the gate.
    """
    gate_settings = gate_settings or GateSettings(seed=ws.profile.seed)
    target = ws.run_dir / "artifacts" / f"gate-{gate_key(ws, settings, gate_settings)}"
    if (target / "config.json").is_file():
        return target
    episodes = sample_trajectories(ws)
    recalls = ranked_recalls(episodes, ws.profile.success_criterion)
    model = ws.score_model(init=gate_settings)
    if recalls:
        history = train_retrieval(model, pair_batch(recalls, ws.encoder, settings), settings)
    else:
        # Nothing to imitate: the gate stays as initialised, and the artifact says so.
        warnings.warn(
            f"none of the {len(episodes)} sampled trajectories is a success by {ws.profile.success_criterion!r} "
            "with two or more memory units; the saved gate is the untrained one",
            stacklevel=2,
        )
        history = empty_history()
    fields = {
        "gate": gate_settings.as_dict(),
        "trajectories": len(episodes),
        "successes": len(recalls),
        "criterion": ws.profile.success_criterion,
        "scorers": ws.scorers_folder.name,
    }
    return save_gate(ws, model, target, settings, history, fields)


def save_gate(
    ws, model: ScoreModel, target: Path, settings: RetrievalTrainSettings, history: dict[str, list[float]], fields: dict
) -> Path:
    """A gate artifact: the gate (with the scorers when `settings.trained == "all"`) and
    config.json holding the training settings, `fields` and the rounded training history."""
    config = {
        "artifact": "gate",
        "dim": ws.encoder.dim,
        "training": settings.as_dict(),
        **fields,
        "history": {name: [round(v, 5) for v in values] for name, values in history.items()},
    }
    return save_module(model if settings.trained == "all" else model.gate, target, config, ws.provenance)


def load_gate_into(model: ScoreModel, folder: Path) -> ScoreModel:
    """Put a saved gate (or gate and scorers, if they were trained together) into `model`."""
    config = load_config(folder)
    if config.get("artifact") != "gate":
        raise ValueError(f"{folder} is not a gate artifact (config.json says {config.get('artifact')!r})")
    trained_all = config["training"]["trained"] == "all"
    load_module_state(model if trained_all else model.gate, folder)
    return model.eval()


def untrained_gate(dim: int, seed: int, settings: GateSettings | None = None) -> MoEGate:
    """Ours-def's gate: the paper's N(1, 0.02) initialisation seeded by the profile, unless
    `settings` says otherwise."""
    return MoEGate(dim, settings or GateSettings(seed=seed))


def expert_merges(ws, samples: list[MergeSample]) -> list[str]:
    """The targets of utilization training: the programmatic merge, or the profile's expert model."""
    p = ws.profile
    if p.merge_expert == "programmatic":
        expert = ProgrammaticMerge(ws.encoder, word_limit=p.memory_word_limit)
        return [expert.merge(s) for s in samples]
    model = load_llm(p.replace(llm=p.merge_expert), cache=ws.cache)
    return model_merges(samples, model, ws.merge_sampling)


def train_aggregator(ws) -> tuple[str, ...]:
    """The utilization artifacts of Ours-U: (SFT adapter name, DPO adapter name) under artifacts/.

    Merge samples from the sampled trajectories, expert merges as SFT targets, then DPO with the
    expert merge chosen and the SFT model's own merge rejected. Existing adapters with the same
    key are reused. With no merge sample there is nothing to train: () is returned, with a warning,
    and Ours-U merges with the base model like Ours-def.
    """
    p = ws.profile
    samples = merge_samples(sample_trajectories(ws), p.memory_word_limit)
    if not samples:
        warnings.warn("no sampled trajectory merged two or more units to the end: no aggregator to train", stacklevel=2)
        return ()
    payload = {
        "episodes": ws.episodes_dir.name,
        "questions": [r.id for r in sampling_records(ws)],
        "expert": p.merge_expert,
    }
    key = content_key(payload)
    artifacts = ws.run_dir / "artifacts"
    sft, dpo = artifacts / f"aggregator_sft-{key}", artifacts / f"aggregator_dpo-{key}"
    train_sft_then_dpo(ws, samples, sft, dpo, dpo_settings=DPOSettings(seed=p.seed))
    return sft.name, dpo.name


def train_sft_then_dpo(
    ws,
    samples: list[MergeSample],
    sft: Path,
    dpo: Path,
    *,
    base: tuple[str, ...] = (),
    sft_settings: SFTSettings = AGGREGATOR_SFT,
    dpo_settings: DPOSettings,
) -> None:
    """The SFT adapter at `sft` on the expert merges, then the DPO adapter at `dpo` with the SFT
    model's own merges rejected, both over the aggregator adapters `base` merged into the LLM
    (none off-policy; the current stack on-policy). Adapters already written are reused."""
    if (dpo / "manifest.json").is_file():
        return
    llm, base_folders = ws.profile.llm, [ws.artifact(name) for name in base]
    chosen = expert_merges(ws, samples)
    if not (sft / "manifest.json").is_file():
        train_sft_aggregator(
            llm, samples, chosen, sft, settings=sft_settings, base_adapters=base_folders, provenance=ws.provenance
        )
    rejected = model_merges(samples, ws.aggregator_llm((*base, sft.name)), ws.merge_sampling)
    train_dpo_aggregator(
        llm, sft, samples, chosen, rejected, dpo, settings=dpo_settings, base_adapters=base_folders, provenance=ws.provenance
    )


def reflection_settings(ws) -> ReflectionSettings:
    p = ws.profile
    return ReflectionSettings(chunk_size=p.reflection_chunk, records=p.reflection_records, seed=p.seed)


def train_hint(ws, settings: ReflectionSettings | None = None) -> Path:
    """The storage artifact of Ours-S: the hint learned by reflection on the sampled trajectories.

    Store records of every extraction, split by the profile's success criterion, reflected on
    and consolidated (l2m.storage.reflection). Saved as runs/<profile>/artifacts/hint-<key>/
    hint.json (the hint, its history after each chunk, the experiences, the record counts); an
    artifact with the same key is reused.
    """
    settings = settings or reflection_settings(ws)
    payload = {
        "episodes": ws.episodes_dir.name,
        "questions": [r.id for r in sampling_records(ws)],
        "criterion": ws.profile.success_criterion,
        "reflection": settings.as_dict(),
        "sampling": ws.memory_settings.llm.as_dict(),
    }
    target = ws.run_dir / "artifacts" / f"hint-{content_key(payload)}"
    if (target / "manifest.json").is_file():
        return target
    records = store_records(sample_trajectories(ws), ws.profile.success_criterion)
    chosen = reflection_order(records, settings.records, settings.seed)
    learned = learn_hint(chosen, ws.llm, ws.memory_settings.llm, settings)
    successes, failures = split_by_success(records)
    fields = {
        "criterion": ws.profile.success_criterion,
        "settings": settings.as_dict(),
        "records": {"successes": len(successes), "failures": len(failures), "reflected": len(chosen)},
        "reflected": [{"question_id": r.question_id, "success": r.success} for r in chosen],
    }
    return save_hint(learned, target, fields, ws.provenance | {"artifact": "hint"})
