#!/usr/bin/env bash
# The GPU path in one prepared script (benchmarks/gpu_check.py says what it checks).
#
#   benchmarks/gpu_check.sh prepare   here, with the project's .venv: copy SmolLM2's tokenizer and
#                                     download the wheels a bare GPU image lacks into .gpu/
#                                     (ignored by git; about 30 MB)
#   benchmarks/gpu_check.sh           on the GPU machine (.gpu/ carried along): install those
#                                     wheels into a scratch folder and run the checks
#
# The wheels are the project's pins of what the GPU path imports beyond torch (transformers,
# PEFT, TRL and datasets for the SFT and DPO steps, xgrammar for constrained decoding), for the
# Python the GPU image runs (3.12). Takes under 10 minutes on one GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu
WHEELS=(transformers==5.23.0 peft==0.21.2 trl==1.16.0 datasets==5.2.0 xgrammar==0.2.8
        apache-tvm-ffi==0.1.15.post2 accelerate==1.15.0 safetensors==0.8.0 dill==0.4.1 multiprocess==0.70.19 tokenizers==0.23.3)

if [ "${1:-run}" = prepare ]; then
  mkdir -p "$GPU/tokenizer" "$GPU/wheels"
  grep -qx "/$GPU/" .git/info/exclude 2>/dev/null || echo "/$GPU/" >> .git/info/exclude
  .venv/bin/python - "$GPU/tokenizer" <<'PY'
import shutil, sys
from l2m.config import SMOLLM2
from l2m.models.llm import converted_folder
from l2m.models.registry import resolve_model
folder = converted_folder(resolve_model(SMOLLM2))
for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
    shutil.copy(folder / name, sys.argv[1])
PY
  .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$GPU/wheels" "${WHEELS[@]}"
  du -sh "$GPU"
  exit 0
fi

[ -d "$GPU/wheels" ] || { echo "error: no $GPU/wheels; run '$0 prepare' first and carry $GPU" >&2; exit 2; }
python3 -m pip install --quiet --no-index --no-deps --no-compile --target /tmp/l2m-site "$GPU"/wheels/*.whl
export PYTHONPATH=/tmp/l2m-site:$PWD/lib TQDM_DISABLE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 540 python3 benchmarks/gpu_check.py --tokenizer "$GPU/tokenizer"
