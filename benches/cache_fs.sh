#!/usr/bin/env bash
# The mark cache on a filesystem store (issue 12): dry runs with the page cache
# dropped before each, without the mark cache (--no-cache), with an empty one
# (a first run: it reads every manifest and saves them) and with the one that
# first run saved (a second run). Prints a markdown table: mean wall time and
# max RSS per case.
#
#   benches/cache_fs.sh [--size 10k|100k|1m] [--runs N] [--stores DIR]
#
# Stores: examples/synth-store.rs, seed 1, the shapes of benches/compare.sh,
# written once into DIR/<size> (default target/bench-stores) and reused.
# Dropping the page cache needs root (echo 3 > /proc/sys/vm/drop_caches).
set -euo pipefail
cd "$(dirname "$0")/.."

size=1m
runs=3
stores=${CARGO_TARGET_DIR:-target}/bench-stores
while [ $# -gt 0 ]; do
    case $1 in
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --stores) stores=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cache_fs.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
die() { echo "cache_fs.sh: $*" >&2; exit 1; }
case $size in
10k) shape="12 64" ;;
100k) shape="47 162" ;;
1m) shape="470 162" ;;
*) die "unknown size $size (10k, 100k or 1m)" ;;
esac
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
[ -w /proc/sys/vm/drop_caches ] || die "cannot drop the page cache (needs root)"

cargo build --quiet --release --bin registry-gc --example synth-store
target=${CARGO_TARGET_DIR:-target}/release
root=$stores/$size
if [ ! -f "$root/expected.json" ]; then
    [ -e "$root" ] && die "$root exists without expected.json (half-written?): remove it"
    read -r repos manifests <<<"$shape"
    echo "== generating $size store in $root" >&2
    "$target/examples/synth-store" "$root" --repos "$repos" --manifests "$manifests" --seed 1 >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg=$tmp/config.yml
printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\n' "$(realpath "$root")" >"$cfg"

# one CASE FLAGS...: one cold dry run; appends "secs rss_kb" to $tmp/CASE
one() {
    local case=$1
    shift
    sync
    echo 3 >/proc/sys/vm/drop_caches
    /usr/bin/time -f '%e %M' -o "$tmp/t" "$target/registry-gc" garbage-collect -d "$@" "$cfg" \
        >"$tmp/out" 2>"$tmp/err" || die "$case failed: $(tail -3 "$tmp/err")"
    cat "$tmp/t" >>"$tmp/$case"
    echo "== $case: $(cat "$tmp/t") $(grep -o 'manifests: [^;]*' "$tmp/err" || true)" >&2
}

for ((i = 0; i < runs; i++)); do
    one without --no-cache
    rm -rf "$tmp/cache"
    one first --cache "$tmp/cache"
    one second --cache "$tmp/cache"
done
summary=$(grep -m1 'blobs marked,' "$tmp/out" || true)

python3 - "$tmp" "$size" "$runs" "$summary" <<'EOF'
import os, sys
tmp, size, runs, summary = sys.argv[1:]
def read(case):
    rows = [l.split() for l in open(os.path.join(tmp, case)) if l.strip()]
    return sum(float(a) for a, _ in rows) / len(rows), max(int(b) for _, b in rows) / 1024
base, _ = read("without")
print(f"{size} store, cold page cache, dry run, mean of {runs}; {summary}")
print()
print("| mark cache | time | vs without | max RSS |")
print("|---|---|---|---|")
for case, label in [("without", "none (`--no-cache`)"), ("first", "empty (first run, saves it)"), ("second", "saved by the first run")]:
    t, rss = read(case)
    print(f"| {label} | {t:.2f} s | {base / t:.2f}x | {rss:.0f} MB |")
EOF
