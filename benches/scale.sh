#!/usr/bin/env bash
# The statewide-scale benchmark: `posc-review demo --scale N --profile P` data at each N and
# profile (default: organizations of 1 to 20 PID/SLs; dense: of 5, about 7 findings per PID/SL), timing the CSV
# import into SQLite (and PostgreSQL when BENCH_PG_URL names a server), the whole `review` (dry
# run: mail as .eml files) with each of its steps as the review logs them (csv + xlsx run beside
# the mail, so those overlap), and `review --send` on a copy of the store: the mail queued in
# the outbox, then one delivery attempt against a closed port. Peak RSS and CPU seconds from
# /usr/bin/time. Prints two Markdown tables, the times and the CPU account per output (the
# review's CPU seconds, and the mail's parts as "mail composed" logs them), and writes them to
# target/bench/scale-<date>.md.
#
#   benches/scale.sh                 # N = 1000 10000 100000, both profiles
#   SIZES="1000 10000" PROFILES=dense REPEAT=3 BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres benches/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/posc-review
sizes=${SIZES:-"1000 10000 100000"}
profiles=${PROFILES:-"default dense"}
repeat=${REPEAT:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/posc-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p target/bench
report=target/bench/scale-$(date +%Y%m%d-%H%M%S).md

# Runs a command under /usr/bin/time; appends "seconds rss_kib cpu_seconds" to $work/time.
timed() { /usr/bin/time -f "%e %M %U %S" -o "$work/time" -a "$@"; }
# The last line of $work/time as "seconds rss_kib cpu_seconds" (user + system).
last_time() { tail -n 1 "$work/time" | awk '{ printf "%s %s %.1f\n", $1, $2, $3 + $4 }'; }

# The seconds of each step named in the review log $1, then the composing threads' seconds per
# part of the mail ("mail composed" parts: see src/mail/cost.rs), tab-separated.
steps() {
    python3 - "$1" <<'PY'
import json, sys
want = ["snapshot loaded", "rules evaluated", "csv written", "workbook written", "mail composed",
        "run stored"]
got = {}
parts = [(p, "0") for p in ("summary", "org", "decision", "trend", "templates", "css", "mime", "write")]
for line in open(sys.argv[1]):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    fields = event.get("fields", {})
    if fields.get("message") in want:
        got[fields["message"]] = fields.get("elapsed_ms", 0) / 1000
    if fields.get("message") == "mail composed":
        parts = [p.split("=") for p in fields.get("parts", "").split()]
print("\t".join([f"{got.get(w, 0):.1f}" for w in want] + [v for _, v in parts]))
PY
}

# Nothing listens here: `review --send` queues its mail and its delivery attempt fails at once.
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

results="$work/results.tsv"
: > "$results"
for profile in $profiles; do for n in $sizes; do
    data="$work/data-$n"
    "$bin" --database-url "sqlite://$work/unused.db" demo --scale "$n" --profile "$profile" --snapshot "$data" \
        --no-import --as-of 2026-10-01 >/dev/null
    for r in $(seq 1 "$repeat"); do
        db="$work/s-$n-$r.db"
        : > "$work/time"
        timed "$bin" --database-url "sqlite://$db" import "$data" >/dev/null 2>&1
        read -r import_s import_kib _ < <(last_time)
        pg_s=-; pg_kib=-
        if [ -n "${BENCH_PG_URL:-}" ]; then
            name="posc_bench_${profile}_${n}_$r"
            psql -q "$BENCH_PG_URL" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
            : > "$work/time"
            timed "$bin" --database-url "${BENCH_PG_URL%/*}/$name" import "$data" >/dev/null 2>&1
            read -r pg_s pg_kib _ < <(last_time)
            psql -q "$BENCH_PG_URL" -c "DROP DATABASE $name WITH (FORCE)"
        fi
        cp "$db" "$db.send"
        : > "$work/time"
        RUST_LOG=info timed "$bin" --log-format json --database-url "sqlite://$db" review --as-of 2026-10-01 \
            --out "$work/out-$n-$r" > "$work/review.out" 2> "$work/review.log"
        read -r review_s review_kib review_cpu < <(last_time)
        : > "$work/time"
        RUST_LOG=info POSC_REVIEW__SMTP__HOST=127.0.0.1 POSC_REVIEW__SMTP__PORT=$closed_port POSC_REVIEW__SMTP__TLS=none \
            timed "$bin" --log-format json --database-url "sqlite://$db.send" review --as-of 2026-10-01 --send \
            --out "$work/out-send-$n-$r" > "$work/send.out" 2> "$work/send.log" || true
        # A failed delivery makes the command exit 1, which time notes on a line of its own.
        read -r send_s send_kib _ < <(last_time)
        send_store=$(steps "$work/send.log" | cut -f6)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$profile" "$n" "$r" "$import_s" "$import_kib" "$pg_s" "$pg_kib" \
            "$review_s" "$review_kib" "$send_s" "$send_kib" "$send_store" "$review_cpu" | paste - <(steps "$work/review.log") >> "$results"
        rm -f "$db"*
    done
    # Outputs go only now: ext4 creates files up to three times slower right after deleting
    # a hundred thousand, which would charge one run's cleanup to the next run's mail.
    rm -rf "$data" "$work"/out-*
done; done

python3 - "$results" "$report" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
# Each row: profile, N, repeat, then (from 0) import s, import KiB, PG s, PG KiB, review s,
# review KiB, --send s, --send KiB, --send store s, review CPU s, the six steps, the eight parts.
def med(values):
    nums = [float(v) for v in values if v not in ("-", "")]
    return statistics.median(nums) if nums else None
fmt = lambda v, scale=1: "-" if v is None else f"{v / scale:.1f}"
groups = {}
for r in rows:
    groups.setdefault((r[0], r[1]), []).append(r[3:])
def table(head, cells):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, rs in groups.items():
        col = lambda i: med([r[i] for r in rs])
        out.append("| " + " | ".join([*key, *cells(col)]) + " |")
    return "\n".join(out)
times = table(
    ["profile", "N", "import SQLite s", "import RSS MiB", "import PG s", "load s", "rules s", "csv s",
     "xlsx s", "mail s", "store s", "review s", "review RSS MiB", "review --send s",
     "--send store s", "--send RSS MiB"],
    lambda col: [fmt(col(0)), fmt(col(1), 1024), fmt(col(2)), *(fmt(col(i)) for i in range(10, 16)),
                 fmt(col(4)), fmt(col(5), 1024), fmt(col(6)), fmt(col(8)), fmt(col(7), 1024)])
# Where the review's CPU goes: the process's user + system seconds, and the composing threads'
# seconds per part of the mail (wall time summed over threads, so it includes waiting for a core).
account = table(
    ["profile", "N", "review CPU s", "org workbooks", "decision workbooks", "templates",
     "inline CSS", "MIME", "summaries", "trend charts", "write"],
    lambda col: [fmt(col(9)), *(fmt(col(i)) for i in (17, 18, 20, 21, 22, 16, 19, 23))])
report = times + "\n\n" + account
print(report)
open(sys.argv[2], "w").write(report + "\n")
print(f"\nwritten to {sys.argv[2]} (medians of {len(rows) // max(1, len(groups))} runs)")
PY
