#!/usr/bin/env bash
# The project's two commands.
#
#   ./reproduce.sh [--profile smoke|cpu|paper]   run every notebook in order with papermill into
#                                                runs/<profile>/, regenerating figures/ and
#                                                runs/<profile>/tables.md (the README's tables)
#   ./reproduce.sh test                          unit tests + nbval over every notebook (smoke)
#   --engine vllm                                with either: also create .venv-vllm (vLLM's CPU
#                                                build, requirements-vllm.txt); a run is served by
#                                                one vLLM server on 127.0.0.1 (l2m.serve), stopped
#                                                when the run ends; the tests include the
#                                                real-server tests (tests/test_vllm.py)
#   ./reproduce.sh bless                         run the notebooks in the smoke profile and store
#                                                the executed copies in notebooks/ (the outputs
#                                                nbval compares against)
#
# Each command creates .venv and installs the pinned requirements when they are missing or
# have changed. Set L2M_PYTHON to choose the interpreter that creates .venv (default python3).
set -euo pipefail
cd "$(dirname "$0")"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

mode=run
profile=smoke
engine=local
while [ $# -gt 0 ]; do
  case "$1" in
    test|run|bless) mode=$1 ;;
    --profile) [ $# -ge 2 ] || usage 2; profile=$2; shift ;;
    --profile=*) profile=${1#--profile=} ;;
    --engine) [ $# -ge 2 ] || usage 2; engine=$2; shift ;;
    --engine=*) engine=${1#--engine=} ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
  shift
done
case "$profile" in
  smoke|cpu|paper) ;;
  *) echo "unknown profile '$profile'; choose smoke, cpu or paper" >&2; exit 2 ;;
esac
case "$engine" in
  local|vllm) ;;
  *) echo "unknown engine '$engine'; choose local or vllm" >&2; exit 2 ;;
esac

VENV=.venv
PY=$VENV/bin/python
STAMP=$VENV/.l2m-requirements

setup() {
  local wanted
  wanted=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$PY" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
    return
  fi
  echo "== setting up $VENV (pinned requirements)"
  [ -x "$PY" ] || "${L2M_PYTHON:-python3}" -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -r requirements.txt
  # See requirements-nodeps.txt for why these skip their declared dependencies.
  "$PY" -m pip install --quiet --no-deps -r requirements-nodeps.txt
  "$PY" -m pip install --quiet --no-deps -e .
  echo "$wanted" > "$STAMP"
}

# vLLM's venv: every package pinned and installed without its declared dependencies (see the
# header of requirements-vllm.txt for why).
setup_vllm() {
  local venv=.venv-vllm wanted
  wanted=$(sha256sum requirements-vllm.txt | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.l2m-requirements" 2>/dev/null)" = "$wanted" ]; then
    return
  fi
  echo "== setting up $venv (vLLM, pinned requirements)"
  [ -x "$venv/bin/python" ] || "${L2M_PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet --no-deps -r requirements-vllm.txt
  echo "$wanted" > "$venv/.l2m-requirements"
}

# run_notebooks TARGET_DIR [papermill options...]
run_notebooks() {
  local target=$1 out
  shift
  mkdir -p "$target" figures
  for nb in notebooks/[0-9][0-9]*.ipynb; do
    out="$target/$(basename "$nb")"
    echo "== $nb -> $out (profile $profile)"
    # papermill writes the output as it goes; a failed notebook leaves the earlier ones intact.
    "$VENV/bin/papermill" --log-level WARNING "$nb" "$out" "$@"
  done
}

# What a run did: generations in the profile's LLM cache, and a checksum of every figure.
cached_generations() {
  "$PY" -c 'import sys; from l2m.models.cache import GenerationCache; print(len(GenerationCache(sys.argv[1])))' \
    "runs/$1/llm_cache.sqlite"
}
figure_sums() { sha256sum "figures/$1"/*.png 2>/dev/null || true; }

setup
if [ "$engine" = vllm ]; then
  setup_vllm
  if [ "$mode" = run ]; then
    # The whole run against one server, which stops when the run ends or fails; rank 128 serves
    # the on-policy loop's stacks of adapters.
    exec "$PY" -m l2m.serve --profile "$profile" --max-lora-rank 128 -- "$0" run --profile "$profile"
  fi
fi
export PYTHONHASHSEED=0
case "$mode" in
  test)
    export L2M_PROFILE=smoke
    "$PY" -m pytest -q --durations=8 tests --nbval-lax --nbval-current-env notebooks -p no:cacheprovider
    ;;
  run)
    start=$(date +%s)
    generations=$(cached_generations "$profile")
    sums=$(figure_sums "$profile")
    run_notebooks "runs/$profile" -p profile "$profile"
    echo "== profile $profile finished in $(( $(date +%s) - start )) s"
    # The README's results tables, rendered from results.csv beside the paper's numbers.
    "$PY" -m l2m.readme_tables --profile "$profile" > "runs/$profile/tables.md.tmp"
    mv "runs/$profile/tables.md.tmp" "runs/$profile/tables.md"
    after=$(figure_sums "$profile")
    echo "== $(( $(cached_generations "$profile") - generations )) new LLM generations;" \
      "$(comm -13 <(echo "$sums" | sort) <(echo "$after" | sort) | wc -l) figures new or changed" \
      "of $(echo "$after" | grep -c .)"
    ;;
  bless)
    # No -p: the notebooks' own parameters cell (profile = "smoke") applies, and papermill
    # injects no extra cell into the copies stored in notebooks/.
    profile=smoke
    run_notebooks runs/smoke
    cp runs/smoke/[0-9][0-9]*.ipynb notebooks/
    echo "== stored the executed smoke notebooks in notebooks/"
    ;;
esac
