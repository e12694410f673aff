#!/usr/bin/env bash
# gpu_check.sh: one short, self-stopping run of clean-labels' CUDA code paths, for the first
# session on a GPU machine. No network; stops itself within GPUCHECK_BUDGET seconds (default 450,
# plus at most ~15 s to print the summary): every step runs under `timeout`, capped by the time
# left (SIGINT first, so clean-labels exits 130 with whole files; SIGKILL 10 s later), and a step
# that no longer fits is skipped.
#
#   bash benchmarks/gpu_check.sh                 # on the GPU: synthetic data, --device cuda
#   bash benchmarks/gpu_check.sh MNIST_DIR       # the gray set from MNIST idx files (t10k-*), and
#                                                # the MNIST floor measured on them
#   bash benchmarks/gpu_check.sh --cpu-smoke     # the steps that run on CPU, tiny data: proves
#                                                # the script and its plumbing work anywhere
#
# Run from the project root. Environment: GPUCHECK_BUDGET (s), GPUCHECK_OUT (work folder, default
# a new /tmp/gpucheck.XXXX), GPUCHECK_ONLY / GPUCHECK_SKIP (comma lists of step names), PYTHON.
#
# Each step prints its command, rc, wall time, a SUMMARY line (training images/s, accuracy), a
# GPUCHECK line (peak GPU memory of that process, peak host RSS), every Error:/Warning: line and
# any traceback, then an OK / FAIL / SKIP verdict naming what it shows. The end: a table of all
# steps (rc, wall, images/s, peak GPU GiB, verdict). Logs: $GPUCHECK_OUT/logs/<step>.{out,err}.
#
# Steps (in brackets: the rows of the table in docs/scale.md they show on a GPU):
#   train_default  default model, all defaults, 28x28 gray                     (8)
#   rank_cpu, rank_gpu   rank on the numpy and the torch kernels: same flags
#   floor_cifar    benchmarks/bench_train.py synthetic 50,000 x 5 folds x 10 epochs (floor 8 s warm)
#   floor_mnist    with MNIST_DIR: bench_train.py mnist, the 10,000 test images (floor 2.2 s warm)
#   tv_resnet18, tv_efficientnet_b0, tv_convnext_tiny   torchvision models at 32 px (3, 8)
#   embed, embed_reuse   --backbone resnet18 --head logreg, then --head mlp on the cache (4, 9)
#   predict_resident, predict_host, predict_mapped   same probabilities       (1)
#   check_host     check --manifest with data streamed from the host           (1)
#   oom            a real CUDA out-of-memory (allocator capped): exit 3 with advice (4, 13)
#   oom_embed      the same while embedding: names --backbone                  (4)
#   sigint, sigint_resume   Ctrl-C after the first fold, then the same command resumes
#   compile        --compile, counting recompiles (must not grow with folds)
#   ray            --backend ray, two folds per GPU: device and GPU ids per fold (2, 5, 6, 12)

set -u -o pipefail

SMOKE=0
if [[ "${1:-}" == "--cpu-smoke" ]]; then SMOKE=1; shift; fi
T0=$(date +%s)
BUDGET=${GPUCHECK_BUDGET:-450}
W=${GPUCHECK_OUT:-$(mktemp -d /tmp/gpucheck.XXXX)}
LOG=$W/logs
mkdir -p "$LOG"
PY=${PYTHON:-$(command -v python || command -v python3)}
HERE=$(cd "$(dirname "$0")" && pwd)
HELP=$HERE/gpu_check_helpers.py
SUMMARY=$W/summary.tsv
: > "$SUMMARY"
export CLEAN_LABELS_DEBUG=1 CLEAN_LABELS_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
DEV=cuda; (( SMOKE )) && DEV=cpu
CL=("$PY" "$HELP" wrap)          # clean-labels in-process, reporting wall and peak memory

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
now() { date +%s.%N; }
hr() { echo "-------------------------------------------------------------------------------"; }
wanted() {
    [[ ",${GPUCHECK_SKIP:-}," == *",$1,"* ]] && return 1
    [[ -z "${GPUCHECK_ONLY:-}" || ",${GPUCHECK_ONLY}," == *",$1,"* ]]
}

# step NAME NEED_S TIMEOUT_S CMD...: run CMD under timeout capped by the time left; print rc, wall,
# summary, GPUCHECK, Error/Warning lines and any traceback. Sets STEP_RC (99: skipped), STEP_WALL.
step() {
    local name=$1 need=$2 to=$3; shift 3
    STEP_RC=99; STEP_WALL=-; STEP_CUT=0
    local l; l=$(left)
    if [[ $name != data_* ]] && ! wanted "$name"; then return 99; fi     # data: always
    if (( l < need )); then
        hr; echo "[$name] SKIPPED: ${l}s left, needs ${need}s"; return 99
    fi
    (( to > l - 3 )) && to=$(( l - 3 )) && STEP_CUT=1     # a timeout now means: the budget ran out
    hr; echo "[$name] $* (timeout ${to}s)"
    local t1; t1=$(now)
    timeout -k 10 -s INT "$to" "$@" > "$LOG/$name.out" 2> "$LOG/$name.err"
    STEP_RC=$?
    STEP_WALL=$(awk -v a="$t1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
    echo "[$name] rc=$STEP_RC wall=${STEP_WALL}s$([[ $STEP_RC == 124 ]] && echo ' (TIMED OUT)')"
    grep -hE '^(Trained|Training|Flagged|Wrote|Embedded|Error:|Warning:|Interrupted)' \
        "$LOG/$name.out" "$LOG/$name.err" 2>/dev/null | cut -c1-300 | sed 's/^/    /'
    grep -hE '(ERROR|[A-Za-z]+Error: |Exception: )' "$LOG/$name.out" "$LOG/$name.err" 2>/dev/null \
        | grep -vE '^(Error:|Traceback)' | sort -u | head -10 | cut -c1-300 | sed 's/^/    other error line: /'
    grep -hE '^GPUCHECK' "$LOG/$name.err" | sort | uniq -c | sed -E 's/^ *1 /    /; s/^ *([0-9]+) /    (x\1) /'
    if grep -q 'Traceback (most recent call last)' "$LOG/$name.err"; then
        echo "    --- traceback ---"
        sed -n '/Traceback (most recent call last)/,$p' "$LOG/$name.err" | grep -v '^GPUCHECK' | tail -25 | sed 's/^/    /'
    fi
    return $STEP_RC
}

# verdict NAME OK|FAIL|SKIP WHAT: one verdict line and one summary row
verdict() {
    local name=$1 v=$2 what=$3
    local peak ips
    peak=$(grep -hoE 'peak_gpu_alloc_GiB=[0-9.]+' "$LOG/$name.err" 2>/dev/null | tail -1 | cut -d= -f2)
    ips=$(grep -hoE '(train|embed|predict)_images_per_s=[0-9,]+' "$LOG/$name.summary" 2>/dev/null | head -1 | cut -d= -f2)
    [[ $v == SKIP ]] && STEP_RC=99 && STEP_WALL=-
    echo "  >> $v $name: $what"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$STEP_RC" "$STEP_WALL" "${ips:--}" "${peak:--}" "$v" "$what" >> "$SUMMARY"
}
rc_verdict() {   # rc_verdict NAME EXPECTED_RC WHAT
    if [[ $STEP_RC == 99 ]]; then verdict "$1" SKIP "$3 (no time, or not asked for)"
    elif [[ $STEP_RC == 124 && ${STEP_CUT:-0} == 1 ]]; then verdict "$1" SKIP "$3 (cut short: the budget ran out)"
    elif [[ $STEP_RC == "$2" ]]; then verdict "$1" OK "$3"
    else verdict "$1" FAIL "$3: rc $STEP_RC, expected $2 $(grep -h '^Error:' "$LOG/$1.err" "$LOG/$1.out" 2>/dev/null | head -1 | cut -c1-200)"
    fi
}
rate() {   # rate NAME ROWS: rows per second of the command's own wall time, kept for the table
    local w; w=$(grep -hoE 'GPUCHECK wall_s=[0-9.]+' "$LOG/$1.err" 2>/dev/null | tail -1 | cut -d= -f2)
    [[ -n "$w" ]] && awk -v n="$2" -v w="$w" 'BEGIN{if (w > 0) printf "predict_images_per_s=%d\n", n / w}' \
        | tee "$LOG/$1.summary" | sed 's/^/    /'
}
summ() {   # summ NAME RUN: the run's SUMMARY line, kept for the table
    [[ -f "$2/metrics.json" ]] && "$PY" "$HELP" summarize "$2" 2>&1 | tee "$LOG/$1.summary" | sed 's/^/    /'
}

# ----------------------------------------------------------------------------- environment
hr; echo "gpu_check.sh in $(pwd): work folder $W, budget ${BUDGET}s, device $DEV, smoke=$SMOKE, $(date -u +%FT%TZ)"
if [[ ! -f pyproject.toml || ! -d cleanlab_lite ]]; then echo "ERROR: run from the project root"; exit 2; fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version --format=csv 2>&1 | sed 's/^/    /'
timeout 90 "$PY" - <<'EOF' 2>&1 | sed 's/^/    /'
import importlib, importlib.metadata as md, platform, os
print("python", platform.python_version(), "| cpus", os.cpu_count())
for m, d in (("torch", "torch"), ("torchvision", "torchvision"), ("ray", "ray"), ("numpy", "numpy"),
             ("sklearn", "scikit-learn"), ("triton", "triton")):
    try:
        importlib.import_module(m); print(f"  {m:12s} {md.version(d)}")
    except Exception as e:
        print(f"  {m:12s} MISSING ({type(e).__name__})")
import torch
print("cuda", torch.cuda.is_available(), "| torch.version.cuda", torch.version.cuda)
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name} cc {p.major}.{p.minor} {p.total_memory / 2**30:.1f} GiB "
          f"(--precision auto: {'bf16' if (p.major, p.minor) >= (8, 0) else 'fp32'})")
EOF
if ! (( SMOKE )) && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "ERROR: PyTorch sees no CUDA GPU; run with --cpu-smoke for the CPU steps"; exit 2
fi
HAVE_TV=0; "$PY" -c "import torchvision" 2>/dev/null && HAVE_TV=1
HAVE_RAY=0; "$PY" -c "import ray" 2>/dev/null && HAVE_RAY=1

# ----------------------------------------------------------------------------- data and sizes
if (( SMOKE )); then
    N_GRAY=240; N_RGB=200; SHORT=(--epochs 1 --folds 3); TV=(--epochs 1 --folds 2); FULL=(--epochs 1 --folds 3)
else
    N_GRAY=10000; N_RGB=20000; SHORT=(--epochs 3); TV=(--epochs 2 --folds 3); FULL=()
fi
GRAY=$W/gray/manifest.csv; RGB=$W/rgb/manifest.csv
MNIST_DIR=
if [[ -n "${1:-}" && -d "$1" ]]; then
    MNIST_DIR=$1
    step data_gray 20 120 "$PY" "$HELP" from-idx "$1" "$W/gray" "$N_GRAY"
else
    step data_gray 20 120 "$PY" "$HELP" make-data "$W/gray" "$N_GRAY" 28 1 0.05 1
fi
step data_rgb 20 120 "$PY" "$HELP" make-data "$W/rgb" "$N_RGB" 32 3 0.05 2
[[ -f $GRAY && -f $RGB ]] || { echo "ERROR: no data"; exit 3; }

# ----------------------------------------------------------------------------- train, rank
step train_default 25 120 "${CL[@]}" train "$GRAY" --out "$W/run_gray" --device "$DEV" --quiet "${FULL[@]}"
summ train_default "$W/run_gray"; rc_verdict train_default 0 "train, default model and hyperparameters, 28x28 gray"

if [[ -f $W/run_gray/pred_probs.npy ]]; then
    step rank_cpu 10 60 "${CL[@]}" rank --pred-probs "$W/run_gray/pred_probs.npy" --labels "$W/run_gray/labels.npy" --device cpu --out "$W/rank_cpu"
    rc_verdict rank_cpu 0 "rank on the numpy kernels"
    step rank_gpu 10 60 "${CL[@]}" rank "$W/run_gray" --device "$DEV"
    if [[ $STEP_RC == 0 && -d $W/rank_cpu ]]; then
        cmp=$("$PY" "$HELP" same-flags "$W/rank_cpu" "$W/run_gray" 2>&1); echo "    $cmp"
        [[ $cmp == *"same=True"* ]] && verdict rank_gpu OK "rank --device $DEV flags the rows the CPU flags" \
                                    || verdict rank_gpu FAIL "rank --device $DEV differs from cpu: $cmp"
    else rc_verdict rank_gpu 0 "rank --device $DEV"; fi
fi

# ----------------------------------------------------------------------------- the GPU floors (early: the figures a GPU run must bring back)
floor() {   # floor NAME LIMIT_S WHAT [MIN_ACC]: bench_train's warm wall time (and accuracy) against the floor
    local warm acc
    warm=$(grep -E '^ours' "$LOG/$1.out" 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i ~ /^warm:?$/) {print $(i+1); exit}}')
    acc=$(grep -E '^ours' "$LOG/$1.out" 2>/dev/null | grep -oE 'OOF acc [0-9.]+' | head -1 | awk '{print $3}')
    grep -E '^(ours|plain|baseline|speed|out-of-fold)' "$LOG/$1.out" 2>/dev/null | sed 's/^/    /'
    if [[ $STEP_RC != 0 || -z "$warm" ]]; then rc_verdict "$1" 0 "$3"
    elif (( SMOKE )); then verdict "$1" OK "$3: ran (${warm} s warm on CPU; the floor is for one H100)"
    elif ! awk -v w="$warm" -v f="$2" 'BEGIN{exit !(w <= f)}'; then verdict "$1" FAIL "$3: ${warm} s warm > ${2} s"
    elif [[ -n "$acc" ]] && ! awk -v a="$acc" -v m="${4:-0}" 'BEGIN{exit !(a >= m)}'; then
        verdict "$1" FAIL "$3: ${warm} s warm, but accuracy $acc < ${4}"
    else verdict "$1" OK "$3: ${warm} s warm <= ${2} s${acc:+, accuracy $acc}"; fi
}
if (( SMOKE )); then
    step floor_cifar 20 150 "$PY" "$HERE/bench_train.py" synthetic --device cpu --n 600 --epochs 1 --models cnn --folds 3 --plain-batch 32
else
    step floor_cifar 60 200 "$PY" "$HERE/bench_train.py" synthetic --device cuda --n 50000 --epochs 10 --models cnn
fi
floor floor_cifar 8 "CIFAR-shaped 50,000 x 5 folds x 10 epochs, default cnn (floor: 8 s warm)"
if [[ -n "${MNIST_DIR:-}" ]]; then
    step floor_mnist 60 200 "$PY" "$HERE/bench_train.py" mnist "$MNIST_DIR" --device "$DEV" $( (( SMOKE )) && echo --limit 600 --epochs 1)
    floor floor_mnist 2.2 "5-fold out-of-fold probabilities, 10,000 MNIST test images (floor: 2.2 s warm, accuracy >= 0.992)" 0.992
fi

# ----------------------------------------------------------------------------- torchvision, embed
if (( HAVE_TV )); then
    for m in resnet18 efficientnet_b0 convnext_tiny; do
        step "tv_$m" 25 90 "${CL[@]}" train "$RGB" --out "$W/run_$m" --device "$DEV" --model "$m" --quiet "${TV[@]}"
        summ "tv_$m" "$W/run_$m"; rc_verdict "tv_$m" 0 "train --model $m at 32 px"
    done
    step embed 25 120 "${CL[@]}" train "$RGB" --out "$W/run_embed" --device "$DEV" --backbone resnet18 --head logreg --quiet
    summ embed "$W/run_embed"; rc_verdict embed 0 "train --backbone resnet18 --head logreg (embed once)"
    step embed_reuse 15 90 "${CL[@]}" train "$RGB" --out "$W/run_embed" --device "$DEV" --backbone resnet18 --head mlp --quiet
    summ embed_reuse "$W/run_embed"
    if [[ $STEP_RC == 0 ]] && grep -q 'embed_cache_reused=True' "$LOG/embed_reuse.summary" 2>/dev/null; then
        verdict embed_reuse OK "--head mlp reused the cached embeddings"
    else rc_verdict embed_reuse 0 "--head mlp on the cached embeddings (reused: $(grep -o 'embed_cache_reused=[A-Za-z]*' "$LOG/embed_reuse.summary" 2>/dev/null))"; fi
else
    verdict tv SKIP "torchvision not installed: torchvision, embed and OOM steps"
fi

# ----------------------------------------------------------------------------- predict, check --manifest
if [[ -f $W/run_gray/pred_probs.npy ]]; then
    step predict_resident 15 60 "${CL[@]}" predict "$W/run_gray" "$GRAY" --out "$W/p_resident.npy" --device "$DEV"
    rate predict_resident "$N_GRAY"
    rc_verdict predict_resident 0 "predict, data resident"
    for mode in host mapped; do
        GPUCHECK_FORCE_MODE=$mode step "predict_$mode" 15 60 "${CL[@]}" predict "$W/run_gray" "$GRAY" --out "$W/p_$mode.npy" --device "$DEV"
        rate "predict_$mode" "$N_GRAY"
        if [[ $STEP_RC == 0 && -f $W/p_resident.npy ]]; then
            d=$("$PY" "$HELP" compare "$W/p_resident.npy" "$W/p_$mode.npy"); echo "    $d"
            verdict "predict_$mode" OK "predict with data streamed ($mode) works: $d"
        else rc_verdict "predict_$mode" 0 "predict with data streamed ($mode)"; fi
    done
    GPUCHECK_FORCE_MODE=host step check_host 15 90 "${CL[@]}" check "$W/run_gray" --manifest "$GRAY" --max-issue-rate 100% --device "$DEV"
    rc_verdict check_host 0 "check --manifest with data streamed from the host"
fi

# ----------------------------------------------------------------------------- out of memory
oom_ok() {   # oom_ok NAME WHAT FRAGMENT: exit 3 with one 'Error: out of ... memory' line naming FRAGMENT
    if [[ $STEP_RC == 99 ]]; then verdict "$1" SKIP "$2"
    elif [[ $STEP_RC == 3 ]] && grep -q "^Error: out of .* memory while .*$3" "$LOG/$1.err"; then
        verdict "$1" OK "$2: exit 3, $(grep -h '^Error:' "$LOG/$1.err" | head -1 | cut -c1-160)"
    else verdict "$1" FAIL "$2: rc $STEP_RC, $(grep -h '^Error:' "$LOG/$1.err" | head -1 | cut -c1-200)"; fi
}
if (( HAVE_TV )); then
    if (( SMOKE )); then
        GPUCHECK_INJECT_OOM=1 step oom 15 60 "${CL[@]}" train "$RGB" --out "$W/run_oom" --device "$DEV" --model resnet18 --quiet "${TV[@]}"
        oom_ok oom "injected out-of-memory while training" "--batch-size"
        GPUCHECK_INJECT_OOM=1 step oom_embed 15 60 "${CL[@]}" train "$RGB" --out "$W/run_oom_embed" --device "$DEV" --backbone resnet18 --quiet "${TV[@]}"
        oom_ok oom_embed "injected out-of-memory while embedding" "--backbone"
    else
        GPUCHECK_MEM_FRACTION=0.01 step oom 20 60 "${CL[@]}" train "$RGB" --out "$W/run_oom" --device "$DEV" --model resnet50 --image-size 64 --quiet "${TV[@]}"
        oom_ok oom "real CUDA out-of-memory while training (allocator capped at 1%)" "--device cpu"
        GPUCHECK_MEM_FRACTION=0.002 step oom_embed 20 60 "${CL[@]}" train "$RGB" --out "$W/run_oom_embed" --device "$DEV" --backbone resnet50 --image-size 64 --quiet "${TV[@]}"
        oom_ok oom_embed "real CUDA out-of-memory while embedding (allocator capped at 0.2%)" "--backbone"
    fi
fi

# ----------------------------------------------------------------------------- SIGINT, resume
if wanted sigint && (( $(left) >= 60 )); then
    run=$W/run_sigint; rm -rf "$run"; hr; echo "[sigint] Ctrl-C after the first finished fold, then the same command"
    t1=$(now)
    "${CL[@]}" train "$GRAY" --out "$run" --device "$DEV" --quiet "${SHORT[@]}" > "$LOG/sigint.out" 2> "$LOG/sigint.err" &
    l=$(left); to=$(( l - 40 < 90 ? l - 40 : 90 ))        # leave time for the wait and the resume
    pid=$!; deadline=$(( $(date +%s) + to ))
    while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do
        (( $(ls "$run"/folds/*/done.json 2>/dev/null | wc -l) >= 1 )) && break; sleep 0.1
    done
    kill -INT "$pid" 2>/dev/null; waited=0
    while kill -0 "$pid" 2>/dev/null && (( waited < 100 )); do sleep 0.2; waited=$(( waited + 1 )); done
    kill -KILL "$pid" 2>/dev/null; wait "$pid"; STEP_RC=$?
    STEP_WALL=$(awk -v a="$t1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
    kept=$(ls "$run"/folds/*/done.json 2>/dev/null | wc -l)
    echo "[sigint] rc=$STEP_RC (130 expected) wall=${STEP_WALL}s, finished folds kept: $kept"
    grep -hE '^(Interrupted|Error:)' "$LOG/sigint.err" | sed 's/^/    /'
    [[ $STEP_RC == 130 && $kept -ge 1 ]] && verdict sigint OK "Ctrl-C: exit 130, $kept fold(s) kept" \
                                        || verdict sigint FAIL "Ctrl-C: rc $STEP_RC, $kept fold(s) kept"
    step sigint_resume 15 90 "${CL[@]}" train "$GRAY" --out "$run" --device "$DEV" --quiet "${SHORT[@]}"
    summ sigint_resume "$run"
    if [[ $STEP_RC == 0 ]] && grep -q "reused_folds=$kept " "$LOG/sigint_resume.summary" 2>/dev/null; then
        verdict sigint_resume OK "the rerun reused the $kept finished fold(s) and trained the rest"
    else rc_verdict sigint_resume 0 "resume after Ctrl-C (reused $(grep -o 'reused_folds=[0-9]*' "$LOG/sigint_resume.summary" 2>/dev/null), kept $kept)"; fi
elif wanted sigint; then verdict sigint SKIP "Ctrl-C and resume (no time)"; fi

# ----------------------------------------------------------------------------- torch.compile
# On CPU the eager backend: dynamo traces and guards (and recompiles) as on the GPU, without a
# C++ build that takes minutes on a small machine.
COMPILE_ENV=(TORCH_LOGS=recompiles); (( SMOKE )) && COMPILE_ENV+=(GPUCHECK_COMPILE_BACKEND=eager)
step compile 60 180 env "${COMPILE_ENV[@]}" "${CL[@]}" train "$GRAY" --out "$W/run_compile" --device "$DEV" --compile --quiet "${SHORT[@]}"
if [[ $STEP_RC != 99 ]]; then
    summ compile "$W/run_compile"
    nre=$(grep -c 'Recompiling function' "$LOG/compile.err")
    folds=$(grep -o 'trained_folds=[0-9]*' "$LOG/compile.summary" 2>/dev/null | cut -d= -f2)
    grep -A3 'Recompiling function' "$LOG/compile.err" | grep -E 'triggered by|guard' | sort | uniq -c | head -5 | sed 's/^/    /'
    if [[ $STEP_RC == 0 && -n "$folds" && $nre -lt $folds ]]; then
        verdict compile OK "--compile: $nre recompile(s) over $folds folds (compiled once, not per fold)"
    else rc_verdict compile 0 "--compile: $nre recompile(s) over ${folds:-?} folds (must stay below the fold count)"; fi
else rc_verdict compile 0 "--compile"; fi

# ----------------------------------------------------------------------------- Ray
if (( HAVE_RAY )); then
    SHARE=(); (( SMOKE )) || SHARE=(--gpus-per-fold 0.5)     # two folds at once on one GPU
    step ray 45 150 "${CL[@]}" train "$GRAY" --out "$W/run_ray" --device "$DEV" --backend ray --quiet "${SHARE[@]}" "${SHORT[@]}"
    summ ray "$W/run_ray"
    if [[ $STEP_RC == 0 ]]; then
        "$PY" "$HELP" folds "$W/run_ray" | tee "$LOG/ray.folds" | sed 's/^/    /'
        if grep -q "device=$DEV" "$LOG/ray.folds" && ! grep -qv "device=$DEV" "$LOG/ray.folds"; then
            verdict ray OK "--backend ray: every fold on $DEV"
        else verdict ray FAIL "--backend ray: a fold not on $DEV (see above)"; fi
    else rc_verdict ray 0 "--backend ray"; fi
else verdict ray SKIP "ray not installed"; fi

# ----------------------------------------------------------------------------- summary
hr; echo "SUMMARY ($(( $(date +%s) - T0 ))s of a ${BUDGET}s budget; rc 0 ok, 3 runtime failure, 130 interrupted, 124 timed out)"
printf '  %-18s %4s %7s %12s %9s  %s\n' step rc wall_s images/s peak_GiB verdict
while IFS=$'\t' read -r name rc wall ips peak v what; do
    printf '  %-18s %4s %7s %12s %9s  %s\n' "$name" "$rc" "$wall" "$ips" "$peak" "$v"
done < "$SUMMARY"
nfail=$(cut -f6 "$SUMMARY" | grep -c FAIL)
echo "FAIL: $nfail step(s); logs in $LOG"
(( nfail == 0 ))
