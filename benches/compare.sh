#!/usr/bin/env bash
# Side-by-side timings of registry-gc and the upstream collector (Debian's
# docker-registry 2.8.2) on the same generated stores, with one
# `find ROOT -type f | wc -l` walk as the floor. Prints a markdown table.
#
#   benches/compare.sh [--sizes 10k,100k,1m] [--stores DIR] [--runs N]
#                      [--no-cold] [--only-ours] [--out FILE]
#
# Stores (examples/synth-store.rs, seed 1; the same ones `cargo bench` uses):
#   10k = 12 repos x 64 manifests, 100k = 47 x 162, 1m = 470 x 162 (~7.4 GB).
# They are written once into DIR/<size> (default target/bench-stores) and reused.
#
# Modes: -d, -d -m, real and real -m. Real runs work on DIR/<size>.real-copy, a
# hard-linked copy (`cp -al`, made once and kept): both collectors only unlink
# files and remove directories, never write into a file, so deleting from the
# copy leaves the store intact. Before each real run the copy is put back with
# `cp -aln` (relinks what the last run deleted, 16 subtrees at a time); that is
# not timed.
#
# Timing: hyperfine when installed (apt-get install -y hyperfine), else a loop
# with `date +%s.%N`. Each timed command runs under `/usr/bin/time -f %M` (the
# "Maximum resident set size" of `time -v`), so max RSS comes from the same
# runs. Warm runs: one warm-up for dry runs (real runs are warmed by the
# restore, which walks the store). Cold runs drop the page cache first
# (`sync; echo 3 > /proc/sys/vm/drop_caches`) when that file is writable.
# stdout and stderr of both collectors go to /dev/null; their -d summary lines
# are checked once per store and must agree.
#
# Runs: --runs N (default 5) on 10k and 100k (cold: min(N, 3)); on 1m
# registry-gc runs min(N, 3) times, find min(N, 2), upstream and every cold
# run once (upstream's -d -m takes ~4 min and real -m ~7 min there).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=10k,100k
stores=${CARGO_TARGET_DIR:-target}/bench-stores
runs=5
cold=1
upstream=1
out=
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --stores) stores=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-cold) cold=0; shift ;;
    --only-ours) upstream=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

die() { echo "compare.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
if [ $upstream = 1 ]; then
    command -v docker-registry >/dev/null || die "docker-registry missing (apt-get install -y docker-registry, or --only-ours)"
fi
have_hyperfine=0
command -v hyperfine >/dev/null && have_hyperfine=1
[ $have_hyperfine = 1 ] || log "hyperfine not found: timing with a date loop"

log "building registry-gc and synth-store (release)"
cargo build --quiet --release --bin registry-gc --example synth-store
target=${CARGO_TARGET_DIR:-target}/release
ours=$(realpath "$target/registry-gc")
synth=$(realpath "$target/examples/synth-store")
mkdir -p "$stores"
stores=$(realpath "$stores")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

can_drop=0
if [ $cold = 1 ]; then
    if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
        can_drop=1
    else
        log "cannot write /proc/sys/vm/drop_caches: no cold-cache runs"
    fi
fi

shape() {
    case $1 in
    10k) echo "12 64" ;;
    100k) echo "47 162" ;;
    1m) echo "470 162" ;;
    *) die "unknown size $1 (10k, 100k or 1m)" ;;
    esac
}

ensure_store() { # size -> root
    local root=$stores/$1 repos manifests
    read -r repos manifests <<<"$(shape "$1")"
    if [ ! -f "$root/expected.json" ]; then
        [ -e "$root" ] && die "$root exists without expected.json (half-written?): remove it"
        log "generating $1 store ($repos repos x $manifests manifests) in $root"
        "$synth" "$root" --repos "$repos" --manifests "$manifests" --seed 1 >/dev/null
    fi
    echo "$root"
}

ensure_copy() { # root -> copy
    local copy=$1.real-copy
    if [ ! -f "$copy/.copied" ]; then
        [ -e "$copy" ] && die "$copy exists without .copied (half-made?): remove it"
        log "hard-linking a copy for real runs: $copy"
        cp -al "$1" "$copy"
        touch "$copy/.copied"
    fi
    echo "$copy"
}

config() { # root -> file
    local f=$tmp/$(basename "$1").yml
    printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\n' "$1" >"$f"
    echo "$f"
}

# time_cmd KEY RUNS WARMUP PREPARE-SCRIPT CMD...: times CMD, appends seconds to
# $tmp/KEY.times and max RSS (KB) to $tmp/KEY.rss.
time_cmd() {
    local key=$1 n=$2 warm=$3 prep=$4
    shift 4
    local wrapped=(/usr/bin/time -f %M -a -o "$tmp/$key.rss" "$@")
    if [ $have_hyperfine = 1 ]; then
        local args=(-N --style none --runs "$n" --warmup "$warm" --export-json "$tmp/$key.json")
        [ -n "$prep" ] && args+=(--prepare "bash $prep")
        hyperfine "${args[@]}" "$(printf '%q ' "${wrapped[@]}")" >/dev/null
        jq -r '.results[0].times[]' "$tmp/$key.json" >>"$tmp/$key.times"
        if [ "$warm" -gt 0 ]; then # warm-up runs also wrote an RSS line; drop them
            tail -n "$n" "$tmp/$key.rss" >"$tmp/$key.rss2" && mv "$tmp/$key.rss2" "$tmp/$key.rss"
        fi
    else
        local i t0 t1
        for ((i = 0; i < warm; i++)); do
            [ -n "$prep" ] && bash "$prep"
            "$@" >/dev/null 2>&1 || die "$* failed"
        done
        : >"$tmp/$key.rss"
        for ((i = 0; i < n; i++)); do
            [ -n "$prep" ] && bash "$prep"
            t0=$(date +%s.%N)
            "${wrapped[@]}" >/dev/null 2>&1 || die "$* failed"
            t1=$(date +%s.%N)
            awk "BEGIN { print $t1 - $t0 }" >>"$tmp/$key.times"
        done
    fi
}

# A prepare script: put the real-run copy back, and/or drop the page cache.
prep_script() { # name restore(0/1) root copy drop(0/1)
    local f=$tmp/prep-$1.sh
    {
        echo "set -e"
        if [ "$2" = 1 ]; then
            # cp -aln over each blob prefix and each top-level repository directory,
            # 16 at a time: one `cp -aln STORE/. COPY/` takes minutes on 1m.
            echo "cd '$3/docker/registry/v2'"
            echo "{ find blobs -mindepth 2 -maxdepth 2; find repositories -mindepth 1 -maxdepth 1; } |"
            echo "    xargs -P 16 -n 1 sh -c 'd=\$(dirname \"\$1\"); mkdir -p \"\$0/\$d\" && cp -aln \"\$1\" \"\$0/\$d/\"' '$4/docker/registry/v2'"
            echo "rm -f '$4/registry-gc.lock'"
        fi
        [ "$5" = 1 ] && echo "sync; echo 3 > /proc/sys/vm/drop_caches"
        true
    } >"$f"
    echo "$f"
}

rows=$tmp/rows
: >"$rows"

for size in ${sizes//,/ }; do
    root=$(ensure_store "$size")
    copy=$(ensure_copy "$root")
    cfg=$(config "$root")
    ccfg=$(config "$copy")
    files=$(jq .files "$root/expected.json")
    blobs=$(jq .blobs "$root/expected.json")
    if [ "$size" = 1m ]; then
        n_ours=$((runs < 3 ? runs : 3)) n_up=1 w_up=0 n_find=$((runs < 2 ? runs : 2)) n_cold=1
    else
        n_ours=$runs n_up=$runs w_up=1 n_find=$runs n_cold=$((runs < 3 ? runs : 3))
    fi
    restore=$(prep_script "$size-restore" 1 "$root" "$copy" 0)
    bash "$restore"

    ours_line=$("$ours" garbage-collect -d "$cfg" 2>/dev/null | grep 'blobs marked,')
    log "$size ($files files, $blobs blobs): registry-gc -d says: $ours_line"
    if [ $upstream = 1 ]; then
        up_line=$(docker-registry garbage-collect -d "$cfg" 2>/dev/null | grep 'blobs marked,')
        [ "$ours_line" = "$up_line" ] || die "-d summaries differ on $size: upstream says: $up_line"
        log "$size: upstream -d agrees"
    fi

    log "$size: find"
    time_cmd "$size-find" "$n_find" 1 "" bash -c "find $root -type f | wc -l"
    for mode in "-d" "-d -m" "real" "real -m"; do
        flags=${mode/real/}
        key=$size-${mode// /}
        if [[ $mode = real* ]]; then
            c=$ccfg prep=$restore warm=0 w_up_mode=0
        else
            c=$cfg prep="" warm=1 w_up_mode=$w_up
        fi
        log "$size: registry-gc garbage-collect $flags"
        # shellcheck disable=SC2086
        time_cmd "$key-ours" "$n_ours" "$warm" "$prep" "$ours" garbage-collect $flags "$c"
        if [ $upstream = 1 ]; then
            log "$size: docker-registry garbage-collect $flags"
            # shellcheck disable=SC2086
            time_cmd "$key-up" "$n_up" "$w_up_mode" "$prep" docker-registry garbage-collect $flags "$c"
        fi
        echo "$size $files warm $mode $key" >>"$rows"
    done
    if [ $can_drop = 1 ]; then
        drop=$(prep_script "$size-drop" 0 "$root" "$copy" 1)
        restore_drop=$(prep_script "$size-restore-drop" 1 "$root" "$copy" 1)
        log "$size: cold find"
        time_cmd "$size-cold-find" "$n_cold" 0 "$drop" bash -c "find $root -type f | wc -l"
        for mode in "-d" "real"; do
            flags=${mode/real/}
            key=$size-cold${mode// /}
            if [ "$mode" = real ]; then c=$ccfg p=$restore_drop; else c=$cfg p=$drop; fi
            log "$size: cold registry-gc garbage-collect $flags"
            # shellcheck disable=SC2086
            time_cmd "$key-ours" "$n_cold" 0 "$p" "$ours" garbage-collect $flags "$c"
            if [ $upstream = 1 ]; then
                log "$size: cold docker-registry garbage-collect $flags"
                # shellcheck disable=SC2086
                time_cmd "$key-up" "$n_cold" 0 "$p" docker-registry garbage-collect $flags "$c"
            fi
            echo "$size $files cold $mode $key" >>"$rows"
        done
        bash "$restore"
    fi
done

# The table: mean ± standard deviation (runs), max RSS over the runs.
table=$(python3 - "$tmp" "$rows" <<'EOF'
import math, os, sys
tmp, rows = sys.argv[1], sys.argv[2]
def stats(key):
    p = os.path.join(tmp, key + ".times")
    if not os.path.exists(p):
        return None
    t = [float(x) for x in open(p).read().split()]
    m = sum(t) / len(t)
    sd = math.sqrt(sum((x - m) ** 2 for x in t) / (len(t) - 1)) if len(t) > 1 else 0.0
    return m, sd, len(t)
def rss(key):
    p = os.path.join(tmp, key + ".rss")
    if not os.path.exists(p):
        return None
    v = [int(x) for x in open(p).read().split() if x.isdigit()]
    return max(v) / 1024 if v else None
def fmt(s):
    if s is None:
        return "–"
    m, sd, n = s
    if n == 1:
        return f"{m:.3g} s (1 run)"
    return f"{m:.3g} ± {sd:.2g} s ({n})"
def mb(x):
    return "–" if x is None else f"{x:.0f} MB"
print("| store | cache | mode | find | upstream 2.8.2 | registry-gc | upstream / ours | ours / find | max RSS upstream | max RSS ours |")
print("|---|---|---|---|---|---|---|---|---|---|")
for line in open(rows):
    size, files, cache, *mode, key = line.split()
    mode = " ".join(mode)
    flags = {"-d": "`-d`", "-d -m": "`-d -m`", "real": "real", "real -m": "real `-m`"}[mode]
    fkey = f"{size}-cold-find" if cache == "cold" else f"{size}-find"
    f, o, u = stats(fkey), stats(key + "-ours"), stats(key + "-up")
    ratio = f"{u[0] / o[0]:.1f}x" if u and o else "–"
    floor = f"{o[0] / f[0]:.2f}" if f and o else "–"
    print(f"| {size} ({int(files):,} files) | {cache} | {flags} | {fmt(f)} | {fmt(u)} | {fmt(o)} | {ratio} | {floor} | {mb(rss(key + '-up'))} | {mb(rss(key + '-ours'))} |")
EOF
)
echo
echo "$table"
[ -n "$out" ] && echo "$table" >"$out"
exit 0
