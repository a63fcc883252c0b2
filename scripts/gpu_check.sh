#!/usr/bin/env bash
# The GPU check, one prepared script (a GPU machine's time is short): on one GPU, in under five minutes,
#   1. `python -m dra bench` (generated data, no dataset needed): every method at 448 px, DRA and DevNet
#      at 224 px, and DRA and DevNet at 448 px without autocast (float32), each with the real data
#      path and model only (images/s, their ratio, peak memory) and a short run's wall time;
#   2. a 600-iteration DRA run at 448 px (train_run end to end, checkpoints every 100 iterations),
#      printing its training images/s, wall time and peak memory;
#   3. the GPU tests of tests/test_bench.py (bf16 against float32 runs), when pytest is there.
# --tiny: the same steps CPU-sized (64 px, DRA and DevNet, 2 timed steps, no short runs in the
# benchmark, a 2-iteration DRA run, no pytest), to know the script works before a GPU is there.
# Outputs (CSV tables, the run's metrics.json and scores.csv, a log, the environment) go to
# $OUT/dra-gpu-check if OUT is set (the GPU machine returns what is written there), else
# /tmp/dra-gpu-check. Installs nothing that is there already: .venv/bin/python when it works, else
# python3, with src/ on PYTHONPATH when the package is not installed; pip only for a missing module.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TINY=0
DEVICE=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --tiny) TINY=1 ;;
        --device) DEVICE=$2; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (expected --tiny, --device DEV)" >&2; exit 2 ;;
    esac
    shift
done

DIR="${OUT:-/tmp}/dra-gpu-check"
mkdir -p "$DIR"
LOG="$DIR/gpu_check.log"
: > "$LOG"
T0=$SECONDS
say() { printf '[gpu-check %4ds] %s\n' $((SECONDS - T0)) "$*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; }

# --- Python: the project's venv, or what the machine has -----------------------------------------
PY=""
for cand in "${PYTHON:-}" "$ROOT/.venv/bin/python" python3 python; do
    if [ -n "$cand" ] && command -v "$cand" >/dev/null 2>&1 \
        && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        PY=$cand
        break
    fi
done
[ -n "$PY" ] || { say "no Python >= 3.10 found"; exit 1; }
if ! "$PY" -c 'import dra' 2>/dev/null; then
    export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
fi
# module -> the pinned requirement in pyproject.toml, installed only when the module is missing
MISSING=$("$PY" -c '
import importlib.util
need = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "pandas": "pandas",
        "sklearn": "scikit-learn", "scipy": "scipy", "yaml": "pyyaml", "PIL": "pillow"}
print(" ".join(p for m, p in need.items() if importlib.util.find_spec(m) is None))')
for package in $MISSING; do
    pin=$(grep -oE "\"$package==[^\"]+\"" pyproject.toml | tr -d '"' || true)
    say "missing Python package $package: installing ${pin:-$package}"
    "$PY" -m pip install --quiet "${pin:-$package}" 2>&1 | tee -a "$LOG"
done
export PYTHONUNBUFFERED=1

DATA=$(mktemp -d /tmp/dra-gpu-check-data.XXXXXX)
trap 'rm -rf "$DATA"' EXIT

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo -dirty)"
    "$PY" - <<'EOF'
import platform, torch, torchvision
print(f"python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}")
print(f"cuda available: {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}, "
      f"cpu threads: {torch.get_num_threads()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"gpu 0: {p.name}, {p.total_memory / 2**30:.0f} GiB, "
          f"bf16 supported: {torch.cuda.is_bf16_supported()}")
EOF
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
} 2>&1 | tee "$DIR/environment.txt" | tee -a "$LOG"

if [ "$TINY" = 1 ]; then
    BIG=64; SMALL=""; METHODS="dra devnet"; STEPS=2; WARMUP=1; RUN_ITS=0; DRA_ITS=2; CKPT=1
else
    BIG=448; SMALL=224; METHODS=""; STEPS=10; WARMUP=3; RUN_ITS=20; DRA_ITS=600; CKPT=100
fi

bench() {  # bench <size> <csv> [more arguments]
    local size=$1 csv=$2
    shift 2
    say "benchmark at $size px $*"
    run "$PY" -m dra bench --size "$size" --device "$DEVICE" --warmup "$WARMUP" --steps "$STEPS" \
        --workdir "$DATA" --out "$DIR/$csv" "$@"
}

# 1. the benchmark
if [ -n "$METHODS" ]; then
    bench "$BIG" "bench$BIG.csv" --methods $METHODS --run-iterations "$RUN_ITS"
else
    bench "$BIG" "bench$BIG.csv" --run-iterations "$RUN_ITS"
    bench "$SMALL" "bench$SMALL.csv" --methods dra devnet --run-iterations "$RUN_ITS"
    bench "$BIG" "bench${BIG}_float32.csv" --methods dra devnet --amp off --run-iterations 0
fi

# 2. a DRA run at the protocol's largest size
say "DRA: $DRA_ITS iterations at $BIG px, end to end"
run "$PY" - "$DATA/run" "$DIR/dra$BIG" "$BIG" "$DRA_ITS" "$DEVICE" "$CKPT" <<'EOF'
import sys
from pathlib import Path

from dra.run.bench import bench_spec, make_inputs, subset_files
from dra.run.train import train_run

data, out, size, iterations, device, every = Path(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:5]), \
    sys.argv[5], int(sys.argv[6])
inputs = make_inputs(data, size)
spec, _ = bench_spec("dra", size, iterations=iterations)
info = train_run(spec, subset_files(inputs), out, device=device,
                 checkpoint_every=every)
print(f"DRA {info['iterations']} iterations at {size} px on {info['device']} (amp {info['amp']}): "
      f"{info['images_per_second']:.1f} training images/s, {info['train_seconds']:.1f} s training, "
      f"{info['seconds']:.1f} s in all, peak memory {info['peak_memory_mb']:.0f} MB, AUROC {info['auroc']:.3f}")
EOF

# 3. the GPU tests (bf16 against float32 runs)
if [ "$TINY" = 0 ] && "$PY" -c 'import pytest' 2>/dev/null; then
    say "tests: bf16 against float32 on the GPU"
    run "$PY" -m pytest -q -p no:cacheprovider tests/test_bench.py -m "not workflow" -k "gpu or float32_under_bf16" || say "tests failed"
fi
say "done: outputs in $DIR"
