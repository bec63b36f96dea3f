#!/usr/bin/env bash
# Side-by-side timings and request counts of registry-gc and the upstream
# collector (Debian's docker-registry 2.8.2) on the same buckets of a SeaweedFS
# server on loopback (issue 11, item 5). Prints a markdown table.
#
#   benches/compare_s3.sh [--sizes 2.5k,20k,100k] [--delays 0,20] [--runs N]
#                         [--modes '-d,-d -m,real,real -m'] [--stores DIR]
#                         [--only-ours | --only-upstream] [--proxy-always] [--out FILE]
#                         [--cache]
#
# Stores: examples/synth-store.rs (seed 1, the generator of benches/compare.sh),
# written once into DIR/<size> (default target/bench-stores) and uploaded key for
# key (`s3tool.py upload-dir`, 16 PUTs in flight) below `registry/` into the
# bucket src-<size> of a SeaweedFS whose data stays in DIR/seaweedfs, so both are
# made once and reused (delete DIR/seaweedfs to upload again). Shapes:
#   2.5k = 7 repos x 60 manifests (~2.4k blobs, ~5.6k keys), 20k = 22 x 162
#   (~20k blobs), 100k = 109 x 162 (~100k blobs; the upload takes ~10 minutes).
#
# Modes: -d, -d -m, real and real -m. Dry runs use src-<size>; each real run
# gets a fresh server-side copy of it (untimed), deleted afterwards.
#
# Latency: for each delay D of --delays (ms), every request goes through
# tests/support/s3proxy.py --delay-ms D (D = 20 stands for a real S3 region). With
# D = 0 the collectors talk to SeaweedFS directly (the Python proxy would add
# ~1 ms to each of upstream's sequential requests), unless --proxy-always.
# Requests are counted from the proxy's log (for D = 0 without --proxy-always,
# the count of the same mode with the first non-zero delay is shown).
#
# --cache (issue 12): registry-gc runs each mode twice, first with an empty mark
# cache (`--cache DIR`, emptied before), then again with the cache that first run
# saved (a real run's second run is on a fresh copy of the same bucket: the same
# work, the manifests known); a second table compares the two. Without it,
# registry-gc runs with --no-cache (as before the cache existed).
#
# Wall time and max RSS come from /usr/bin/time; mean over --runs N (default 1).
# Upstream is request-bound and sequential: at 20k blobs and 20 ms its -d -m
# alone takes ~20 minutes; all modes, both delays: budget hours, not minutes.
# registry-gc must support storage.s3 (until it does, --only-upstream).
#
# Needs: docker-registry, /usr/bin/time, jq, and the venv .ci/run makes
# (RGC_S3_VENV, else ${CARGO_TARGET_DIR:-target}/s3-venv: weed, python3 with boto3).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=2.5k,20k
delays=0,20
runs=1
modes='-d,-d -m,real,real -m'
stores=${CARGO_TARGET_DIR:-target}/bench-stores
ours_on=1
up_on=1
proxy_always=0
out=
cache=0
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --delays) delays=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --stores) stores=$2; shift 2 ;;
    --only-ours) up_on=0; shift ;;
    --only-upstream) ours_on=0; shift ;;
    --proxy-always) proxy_always=1; shift ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=1; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_s3.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

die() { echo "compare_s3.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
command -v jq >/dev/null || die "jq missing (apt-get install -y jq)"
[ $up_on = 0 ] || command -v docker-registry >/dev/null || die "docker-registry missing (apt-get install -y docker-registry)"
venv=${RGC_S3_VENV:-${CARGO_TARGET_DIR:-target}/s3-venv}
[ -d "$venv" ] && venv=$(realpath "$venv")
weed=$venv/bin/weed
py=$venv/bin/python3
[ -x "$weed" ] && [ -x "$py" ] || die "no SeaweedFS venv at $venv: run bash .ci/run (or set RGC_S3_VENV)"

log "building registry-gc and synth-store (release)"
cargo build --quiet --release --bin registry-gc --example synth-store
target=${CARGO_TARGET_DIR:-target}/release
ours=$(realpath "$target/registry-gc")
synth=$(realpath "$target/examples/synth-store")
mkdir -p "$stores"
stores=$(realpath "$stores")
tmp=$(mktemp -d)
weed_pid=
proxy_pid=
cleanup() {
    [ -z "$proxy_pid" ] || { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }
    [ -z "$weed_pid" ] || { kill "$weed_pid" 2>/dev/null || true; wait "$weed_pid" 2>/dev/null || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT

free_ports() { # N -> N distinct free loopback ports, one a line
    "$py" -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# --- SeaweedFS on loopback (flags: /work/shared/reference/object-storage.md)
wdir=$stores/seaweedfs
mkdir -p "$wdir/data"
cat >"$wdir/identities.json" <<'EOF'
{"identities":[{"name":"test","credentials":[{"accessKey":"test","secretKey":"test"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
mapfile -t p < <(free_ports 10)
s3port=${p[9]}
# TMPDIR: its logs; it is stopped with SIGTERM, which removes its sockets in /tmp
(cd "$wdir" && TMPDIR=$tmp exec "$weed" mini -dir="$wdir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" -volume.port="${p[2]}" \
    -volume.port.grpc="${p[3]}" -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
    -s3.port.grpc="${p[6]}" -admin.port="${p[7]}" -admin.port.grpc="${p[8]}" -s3.port="$s3port" \
    -filer.localSocket="$tmp/filer.sock" -s3.localSocket="$tmp/s3.sock" -s3.config="$wdir/identities.json") >"$tmp/weed.log" 2>&1 &
weed_pid=$!
endpoint=http://127.0.0.1:$s3port
s3() { env -u AWS_CA_BUNDLE "$py" tests/support/s3tool.py --endpoint "$endpoint" "$@"; }
s3 --timeout 60 ready || { tail -20 "$tmp/weed.log" >&2; die "SeaweedFS did not start"; }
log "SeaweedFS on $endpoint (data in $wdir)"

shape() {
    case $1 in
    2.5k) echo "7 60" ;;
    20k) echo "22 162" ;;
    100k) echo "109 162" ;;
    *) die "unknown size $1 (2.5k, 20k or 100k)" ;;
    esac
}

ensure_bucket() { # size -> bucket src-<size>, uploaded once
    local size=$1 root=$stores/s3-$1 bucket=src-${1//./-} repos manifests
    read -r repos manifests <<<"$(shape "$size")"
    if [ ! -f "$root/expected.json" ]; then
        [ -e "$root" ] && die "$root exists without expected.json (half-written?): remove it"
        log "generating $size store ($repos repos x $manifests manifests) in $root"
        "$synth" "$root" --repos "$repos" --manifests "$manifests" --seed 1 >/dev/null
    fi
    if [ ! -f "$wdir/$bucket.uploaded" ]; then
        log "uploading $root into bucket $bucket"
        s3 delete-bucket "$bucket" >/dev/null
        s3 create-bucket "$bucket"
        s3 upload-dir "$bucket" registry/docker/ "$root/docker" >"$tmp/uploaded"
        mv "$tmp/uploaded" "$wdir/$bucket.uploaded" # the number of keys

    fi
    echo "$bucket"
}

config() { # bucket endpoint -> file
    local f=$tmp/$1-${2##*:}.yml
    printf 'version: 0.1\nlog: {level: info}\nstorage:\n  s3: {bucket: %s, region: us-east-1, regionendpoint: "%s", secure: false, accesskey: test, secretkey: test, rootdirectory: /registry}\n  delete: {enabled: true}\n' "$1" "$2" >"$f"
    echo "$f"
}

start_proxy() { # delay-ms -> sets proxy_port, proxy_log
    proxy_log=$tmp/proxy-$1.log
    : >"$proxy_log"
    coproc PROXY { exec "$py" tests/support/s3proxy.py --upstream "127.0.0.1:$s3port" --delay-ms "$1" --log "$proxy_log" 2>"$tmp/proxy.err"; }
    proxy_pid=$PROXY_PID
    read -r proxy_port <&"${PROXY[0]}" || die "s3proxy.py did not start: $(cat "$tmp/proxy.err")"
}

stop_proxy() {
    [ -z "$proxy_pid" ] || { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }
    proxy_pid=
}

# run_one KEY BUCKET ENDPOINT FLAGS CMD...: one timed run; appends "secs rss_kb" to
# $tmp/KEY.times and the proxy's request count (if any) to $tmp/KEY.reqs.
run_one() {
    local key=$1 bucket=$2 ep=$3 flags=$4 bin=$5 n0=0 cfg
    cfg=$(config "$bucket" "$ep")
    [ -z "$proxy_pid" ] || n0=$(wc -l <"$proxy_log")
    # shellcheck disable=SC2086
    if ! env -u AWS_CA_BUNDLE /usr/bin/time -f '%e %M' -o "$tmp/one.time" \
        "$bin" garbage-collect $flags "$cfg" >"$tmp/$key.out" 2>"$tmp/$key.err"; then
        log "$key failed: $(tail -3 "$tmp/$key.err" | tr '\n' ' ')"
        echo "failed" >>"$tmp/$key.times"
        return
    fi
    tail -1 "$tmp/one.time" >>"$tmp/$key.times"
    if [ -n "$proxy_pid" ]; then
        sleep 0.2 # the proxy logs after answering
        echo $(($(wc -l <"$proxy_log") - n0)) >>"$tmp/$key.reqs"
    fi
}

rows=$tmp/rows
: >"$rows"
for size in ${sizes//,/ }; do
    src=$(ensure_bucket "$size")
    blobs=$(jq .blobs "$stores/s3-$size/expected.json")
    keys=$(cat "$wdir/$src.uploaded")
    for delay in ${delays//,/ }; do
        ep=$endpoint
        if [ "$delay" != 0 ] || [ $proxy_always = 1 ]; then
            start_proxy "$delay"
            ep=http://127.0.0.1:$proxy_port
        fi
        IFS=, read -ra mode_list <<<"$modes"
        for mode in "${mode_list[@]}"; do
            flags=${mode/real/}
            for who in up ours; do
                if [ $who = up ]; then
                    [ $up_on = 1 ] || continue
                    bin=docker-registry
                else
                    [ $ours_on = 1 ] || continue
                    bin=$ours
                fi
                key=$size-$delay-${mode// /}-$who
                cdir=$tmp/cache-$key
                for ((i = 0; i < runs; i++)); do
                    passes=one
                    [ $who = up ] || [ $cache = 0 ] || passes='first second'
                    for pass in $passes; do
                        bucket=$src
                        if [[ $mode = real* ]]; then
                            bucket=work-$who-${size//./-}
                            s3 delete-bucket "$bucket" >/dev/null
                            s3 copy-bucket "$src" "$bucket" >/dev/null
                        fi
                        run_key=$key run_flags=$flags
                        case $pass in
                        one) [ $who = up ] || run_flags="$flags --no-cache" ;;
                        first) rm -rf "$cdir"; run_flags="$flags --cache $cdir" ;;
                        second) run_key=$key-second run_flags="$flags --cache $cdir" ;;
                        esac
                        log "$size, ${delay} ms: $bin garbage-collect $run_flags (run $((i + 1))/$runs)"
                        run_one "$run_key" "$bucket" "$ep" "$run_flags" "$bin"
                        [[ $mode != real* ]] || s3 delete-bucket "$bucket" >/dev/null
                    done
                done
                grep -m1 'blobs marked,' "$tmp/$key.out" >&2 || true
                [ $who = up ] || [ $cache = 0 ] || grep -h 'manifests: ' "$tmp/$key.err" "$tmp/$key-second.err" >&2 || true
            done
            echo "$size $blobs $keys $delay $mode" >>"$rows"
        done
        if [ $cache = 1 ]; then
            # The floor of a run that reads nothing: one flat listing of the
            # bucket, a page at a time (boto3), through the same proxy.
            /usr/bin/time -f '%e' -o "$tmp/floor.time" env -u AWS_CA_BUNDLE "$py" \
                tests/support/s3tool.py --endpoint "$ep" list "$src" >/dev/null
            log "$size, ${delay} ms: one flat listing of $src (boto3, sequential): $(cat "$tmp/floor.time") s"
        fi
        stop_proxy
    done
done

table=$(python3 - "$tmp" "$rows" <<'EOF'
import os, sys
tmp, rows = sys.argv[1], sys.argv[2]
def read(key, ext):
    p = os.path.join(tmp, key + ext)
    return open(p).read().split("\n") if os.path.exists(p) else []
def times(key):
    t = [l.split() for l in read(key, ".times") if l.strip()]
    if any(x == ["failed"] for x in t):
        return "failed", None
    if not t:
        return None, None
    return sum(float(a) for a, _ in t) / len(t), max(int(b) for _, b in t) / 1024
def reqs(size, delay, mode, who):
    r = [int(x) for x in read(f"{size}-{delay}-{mode}-{who}", ".reqs") if x.strip()]
    if r:
        return max(r), ""
    for line in open(rows):  # D = 0 direct: the count of the first proxied delay
        s, _, _, d, *m = line.split()
        if s == size and "".join(m) == mode and d != delay:
            r = [int(x) for x in read(f"{s}-{d}-{mode}-{who}", ".reqs") if x.strip()]
            if r:
                return max(r), f" (at {d} ms)"
    return None, ""
def secs(t):
    return "–" if t is None else t if isinstance(t, str) else f"{t:.2f} s"
FLAGS = {"-d": "`-d`", "-d-m": "`-d -m`", "real": "real", "real-m": "real `-m`"}
mb = lambda x: "–" if x is None else f"{x:.0f} MB"
def ratio(a, b):
    return f"{a / b:.1f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "–"
def row(line, a, b):
    """store, delay, mode, then times, requests and RSS of runs a and b."""
    size, blobs, keys, delay, *mode = line.split()
    key = "".join(mode)
    (ta, ra), (tb, rb) = times(f"{size}-{delay}-{key}-{a}"), times(f"{size}-{delay}-{key}-{b}")
    (qa, na), (qb, nb) = reqs(size, delay, key, a), reqs(size, delay, key, b)
    q = lambda n, note: "–" if n is None else f"{n:,}{note}"
    head = f"| {int(blobs):,} blobs ({int(keys):,} keys) | {delay} ms | {FLAGS[key]} |"
    return head, (ta, tb, ratio(ta, tb)), (q(qa, na), q(qb, nb), ratio(qa, qb)), (mb(ra), mb(rb))
print("| store | added latency | mode | upstream 2.8.2 | registry-gc | upstream / ours | requests upstream | requests ours | upstream / ours | max RSS upstream | max RSS ours |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for line in open(rows):
    head, (ta, tb, speed), (qa, qb, rq), (ra, rb) = row(line, "up", "ours")
    print(f"{head} {secs(ta)} | {secs(tb)} | {speed} | {qa} | {qb} | {rq} | {ra} | {rb} |")
second = [l for l in open(rows) if read(f"{l.split()[0]}-{l.split()[3]}-{''.join(l.split()[4:])}-ours-second", ".times")]
if second:
    print()
    print("| store | added latency | mode | first run (empty cache) | second run (cache) | first / second | requests first | requests second | max RSS first | max RSS second |")
    print("|---|---|---|---|---|---|---|---|---|---|")
for line in second:
    head, (ta, tb, speed), (qa, qb, _), (ra, rb) = row(line, "ours", "ours-second")
    print(f"{head} {secs(ta)} | {secs(tb)} | {speed} | {qa} | {qb} | {ra} | {rb} |")
EOF
)
echo
echo "$table"
[ -z "$out" ] || echo "$table" >"$out"
