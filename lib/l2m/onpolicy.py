"""On-policy optimization of all three stages (PAPER §6, Algorithm 1), resumable by epoch.

Starting from the off-policy parameters (Ours-off: the trained gate, the learned hint, the SFT and
DPO aggregator adapters), each epoch

1. samples a batch of trajectories with the CURRENT memory on fresh training questions (after
   those of the agent adapter and of off-policy sampling; the authors' code reused train[0:150]);
2. storage: reflects on every store record of the batch (or a capped, balanced share of them,
   `reflection_records`) and consolidates from the current hint (chunk 15);
3. retrieval: builds pairs from the successful trajectories and retrains the score model from the
   current one (SGD lr 0.05, 30 epochs over the gate and both scorers, as in the code; the paper's
   Algorithm 1 takes a single step); skipped, keeping the current gate, when there are no pairs;
4. utilization: a new LoRA SFT (lr 5e-4) on the expert merges, over the current aggregator merged
   into the model, then the merged model's own merges as rejected and a new DPO LoRA (lr 1e-4)
   over that, whose reference is the new SFT model (the code; the paper's reference is the
   previous epoch's aggregator); skipped when no merge sample exists;
5. swaps the new parameters in.

Every stage's output is an artifact under runs/<profile>/artifacts/ named by the loop's key and
the epoch, and reused if present; an epoch is finished when its state.json is written (whole, with
a manifest). An interrupted loop resumes after the last finished epoch, and inside an unfinished
epoch it reuses the episodes and artifacts already written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from l2m.artifacts import content_key, staged_folder, write_json
from l2m.methods import Method, register
from l2m.offpolicy import save_gate, train_sft_then_dpo
from l2m.retrieval.training import RetrievalTrainSettings, pair_batch, ranked_recalls, train_retrieval
from l2m.storage.records import reflection_order, store_records
from l2m.storage.reflection import ReflectionSettings, learn_hint
from l2m.success import is_success
from l2m.utilization.samples import merge_samples
from l2m.utilization.training import AGGREGATOR_SFT, DPOSettings

if TYPE_CHECKING:
    from l2m.data.hotpotqa import HotpotRecord
    from l2m.workspace import Workspace

STATE_FILE = "state.json"


@dataclass(frozen=True, kw_only=True)
class OnPolicySettings:
    """PAPER App. D and the authors' online config; epochs and batch are profile-scaled."""

    epochs: int = 5
    trajectories: int = 30
    reflection_chunk: int = 15
    # At most this many of a batch's store records are reflected on (None: all, as in the paper).
    reflection_records: int | None = None
    retrieval: RetrievalTrainSettings = RetrievalTrainSettings(lr=0.05, epochs=30, trained="all")
    sft_lr: float = 5e-4
    dpo: DPOSettings = DPOSettings(lr=1e-4)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Parameters:
    """theta = (theta_r, theta_u, theta_s): gate artifact name, aggregator adapter names, hint."""

    gate: str | None
    aggregator: tuple[str, ...]
    hint: str

    def as_dict(self) -> dict:
        return {"gate": self.gate, "aggregator": list(self.aggregator), "hint": self.hint}

    @classmethod
    def from_dict(cls, saved: dict) -> "Parameters":
        return cls(saved["gate"], tuple(saved["aggregator"]), saved["hint"])


def off_policy_parameters(ws: "Workspace") -> Parameters:
    """Ours-off: every off-policy result loaded (PAPER §5)."""
    return Parameters(ws.trained_gate.name, ws.trained_aggregator, ws.learned_hint)


def settings_for(profile) -> OnPolicySettings:
    """The paper's settings at the profile's scale (epochs, trajectories per epoch, reflection chunk)."""
    return OnPolicySettings(
        epochs=profile.onpolicy_epochs,
        trajectories=profile.onpolicy_trajectories,
        reflection_chunk=profile.onpolicy_reflection_chunk,
        reflection_records=profile.onpolicy_reflection_records,
    )


@dataclass
class OnPolicyLoop:
    ws: "Workspace"
    start: Parameters
    settings: OnPolicySettings = field(default_factory=OnPolicySettings)

    @property
    def key(self) -> str:
        payload = {
            "start": self.start.as_dict(),
            "settings": self.settings.as_dict(),
            "episodes": self.ws.episodes_dir.name,
            "criterion": self.ws.profile.success_criterion,
        }
        return content_key(payload)

    @property
    def folder(self) -> Path:
        return self.ws.run_dir / "artifacts" / f"onpolicy-{self.key}"

    def epoch_folder(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch}"

    def finished(self) -> list[dict]:
        """The states of the finished epochs, in order (each checked against its manifest)."""
        states = []
        for epoch in range(1, self.settings.epochs + 1):
            folder = self.epoch_folder(epoch)
            if not (folder / "manifest.json").is_file():
                break
            self.ws.checked(folder)
            states.append(json.loads((folder / STATE_FILE).read_text()))
        return states

    def parameters_after(self, epoch: int) -> Parameters:
        """theta after `epoch` finished epochs (0: the start)."""
        if not epoch:
            return self.start
        finished = self.finished()
        if epoch > len(finished):
            raise ValueError(f"epoch {epoch} has not finished ({len(finished)} have); run the loop first")
        return Parameters.from_dict(finished[epoch - 1]["parameters"])

    def run(self, until: int | None = None) -> list[dict]:
        """Run the missing epochs up to `until` (default all); returns every finished epoch's state."""
        for epoch in range(len(self.finished()) + 1, (until or self.settings.epochs) + 1):
            self.run_epoch(epoch)
        return self.finished()

    def method_after(self, epoch: int) -> str:
        """A registered method that plays with the parameters after `epoch` epochs (0: the start);
        epoch l samples its batch with method_after(l - 1). Episodes are logged under its name."""
        parameters = self.parameters_after(epoch)
        name = f"Ours-on-{self.key}/after-epoch{epoch}"
        register(Method(name, lambda ws: ws.memory_with(parameters)))
        return name

    def questions(self, epoch: int) -> list["HotpotRecord"]:
        """The fresh training questions epoch `epoch` samples on."""
        p = self.ws.profile
        start = p.agent_adapter_questions + p.agent_reading_questions + p.offpolicy_questions
        start += (epoch - 1) * self.settings.trajectories
        records = self.ws.splits["train"][start : start + self.settings.trajectories]
        if len(records) < self.settings.trajectories:
            raise ValueError(f"epoch {epoch} needs training questions {start}..{start + self.settings.trajectories}, beyond the pool")
        return records

    def run_epoch(self, epoch: int) -> dict:
        current = self.parameters_after(epoch - 1)
        episodes = self.ws.run_method(self.method_after(epoch - 1), self.questions(epoch))
        hint, experiences = self.update_hint(episodes, current.hint)
        gate, pairs = self.update_gate(episodes, current.gate, epoch)
        aggregator, samples = self.update_aggregator(episodes, current.aggregator, epoch)
        criterion = self.ws.profile.success_criterion
        state = {
            "epoch": epoch,
            "parameters": Parameters(gate, aggregator, hint).as_dict(),
            "questions": [e["question_id"] for e in episodes],
            "reward": sum(e["reward"] for e in episodes) / len(episodes),
            "successes": sum(is_success(e, criterion) for e in episodes),
            "criterion": criterion,
            "experiences": experiences,
            "pairs": pairs,
            "merge_samples": samples,
        }
        with staged_folder(self.epoch_folder(epoch), self.ws.provenance | {"artifact": "onpolicy_epoch"}) as staging:
            write_json(staging / STATE_FILE, state)
        return state

    def update_hint(self, episodes: list[dict], hint: str) -> tuple[str, int]:
        """The hint consolidated from `hint` over this batch's reflections (unchanged without a full chunk)."""
        settings = ReflectionSettings(
            chunk_size=self.settings.reflection_chunk,
            records=self.settings.reflection_records,
            start=hint,
            seed=self.ws.profile.seed,
        )
        records = store_records(episodes, self.ws.profile.success_criterion)
        records = reflection_order(records, settings.records, settings.seed)
        learned = learn_hint(records, self.ws.llm, self.ws.memory_settings.llm, settings)
        return learned.hint, len(learned.experiences)

    def update_gate(self, episodes: list[dict], gate: str | None, epoch: int) -> tuple[str | None, int]:
        """The score model retrained from `gate` on this batch's pairs; `gate` itself without pairs."""
        recalls = ranked_recalls(episodes, self.ws.profile.success_criterion)
        if not recalls:
            return gate, 0
        settings = dataclasses.replace(self.settings.retrieval, seed=self.ws.profile.seed)
        pairs = pair_batch(recalls, self.ws.encoder, settings)
        target = self.ws.run_dir / "artifacts" / f"onpolicy-{self.key}-gate-{epoch}"
        if not (target / "manifest.json").is_file():
            model = self.ws.score_model(self.ws.artifact(gate) if gate else None)
            history = train_retrieval(model, pairs, settings)
            save_gate(self.ws, model, target, settings, history, {"start": gate, "successes": len(recalls)})
        return target.name, len(pairs)

    def update_aggregator(self, episodes: list[dict], aggregator: tuple[str, ...], epoch: int) -> tuple[tuple[str, ...], int]:
        """`aggregator` with a new SFT and a new DPO adapter stacked on it; unchanged without merge samples."""
        p = self.ws.profile
        samples = merge_samples(episodes, p.memory_word_limit)
        if not samples:
            return aggregator, 0
        artifacts = self.ws.run_dir / "artifacts"
        sft = artifacts / f"onpolicy-{self.key}-aggregator_sft-{epoch}"
        dpo = artifacts / f"onpolicy-{self.key}-aggregator_dpo-{epoch}"
        train_sft_then_dpo(
            self.ws,
            samples,
            sft,
            dpo,
            base=aggregator,
            sft_settings=dataclasses.replace(AGGREGATOR_SFT, lr=self.settings.sft_lr, seed=p.seed),
            dpo_settings=dataclasses.replace(self.settings.dpo, seed=p.seed),
        )
        return (*aggregator, sft.name, dpo.name), len(samples)
