#!/usr/bin/env bash
# Two binaries back to back on the same `demo --scale N` data, in the order A B B A, so that a
# change's cost is measured on one machine in one sitting: the CSV import into SQLite (and
# PostgreSQL when BENCH_PG_URL names a server), the snapshot load, and the whole dry-run
# review with its outputs on tmpfs (ext4's cost of recently deleted files makes disk figures
# noisy). Peak RSS from /usr/bin/time.
#
#   benches/compare.sh OLD_BINARY NEW_BINARY [N]
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres benches/compare.sh old new 100000
set -euo pipefail
old=$1 new=$2 n=${3:-100000}
work=$(mktemp -d "${TMPDIR:-/tmp}/posc-compare.XXXXXX")
outputs=$(mktemp -d /dev/shm/posc-compare.XXXXXX)
trap 'rm -rf "$work" "$outputs"' EXIT
"$new" --database-url "sqlite://$work/unused.db" demo --scale "$n" --snapshot "$work/data" \
    --no-import --as-of 2026-10-01 >/dev/null

# "seconds rss_mib" of a command.
timed() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/log"
    awk '{ printf "%s %.0f", $1, $2 / 1024 }' "$work/time"
}
# The milliseconds the review log gives for the snapshot load.
load_ms() { sed -n 's/.*snapshot loaded.*elapsed_ms=\([0-9]*\).*/\1/p' "$work/log"; }

printf '| binary | import SQLite s (MiB) | import PG s | load ms | review s (MiB) |\n|---|---|---|---|---|\n'
for bin in "$old" "$new" "$new" "$old"; do
    db="$work/store.db"
    rm -f "$db"*
    import=$(timed "$bin" --database-url "sqlite://$db" import "$work/data")
    pg=-
    if [ -n "${BENCH_PG_URL:-}" ]; then
        psql -q "$BENCH_PG_URL" -c "DROP DATABASE IF EXISTS posc_compare" -c "CREATE DATABASE posc_compare"
        pg=$(timed "$bin" --database-url "${BENCH_PG_URL%/*}/posc_compare" import "$work/data" | cut -d' ' -f1)
        psql -q "$BENCH_PG_URL" -c "DROP DATABASE posc_compare WITH (FORCE)"
    fi
    review=$(RUST_LOG=info timed "$bin" --database-url "sqlite://$db" review --as-of 2026-10-01 \
        --out "$outputs/out")
    rm -rf "$outputs/out"
    printf '| %s | %s | %s | %s | %s |\n' "$bin" "$import" "$pg" "$(load_ms)" "$review"
done
