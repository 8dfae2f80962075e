"""Pretrains tiny scorers into OUT_DIR, slowed down so that a kill lands inside (for test_artifacts.py).

python tests/interrupt_training_target.py OUT_DIR
"""

import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from l2m.retrieval.pretrain import pretrain_scorers  # noqa: E402
from test_scorer_pretraining import FAST, WordHashingEncoder, synthetic_record  # noqa: E402

PROVENANCE = {"profile": "smoke", "seed": 0, "models": {"encoder": "word-hashing"}}


class SlowEncoder(WordHashingEncoder):
    def encode(self, texts, kind="passage"):
        time.sleep(0.001 * len(texts))
        return super().encode(texts, kind)


def run(out_dir: Path) -> Path:
    torch.set_num_threads(1)
    rng = random.Random(0)
    records = [synthetic_record(i, rng) for i in range(40)]
    return pretrain_scorers(SlowEncoder(dim=512), records, out_dir, FAST, provenance=PROVENANCE)


if __name__ == "__main__":
    print("ready", flush=True)  # imports done: the training starts now
    print(run(Path(sys.argv[1])), flush=True)
