#!/usr/bin/env bash
# Delivery against a local SMTP server (Python's aiosmtpd, writing a maildir). Each repetition
# makes a `posc-review demo --scale N` store, reviews it with `--send` against a closed port (the
# mail is queued, nothing delivered), starts aiosmtpd and runs `posc-review send --now`:
#
# - by default it times the pass and prints the messages per second, and the median time per
#   message of the SMTP exchange, of its data (first byte to the server's 250) and of recording the
#   message sent, with the load average;
# - with KILL=1 it kills the sender (`kill -9`) at a random moment of the pass instead, and
#   says whether the server had accepted more messages than the outbox records as sent: the
#   message in flight was delivered and, still `sending`, will be sent again (README, Mail).
#
#   benches/mail.sh                                 # N = 1000 (about 1,100 messages), release build
#   SCALE=300 REPEAT=10 KILL=1 benches/mail.sh
#   PROFILE=debug benches/mail.sh; BIN=/path/to/posc-review benches/mail.sh   # another build
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres benches/mail.sh  # the store on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ -z "${BIN:-}" ]; then
    if [ "$profile" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
fi
bin=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/$profile/posc-review}
scale=${SCALE:-1000}
repeat=${REPEAT:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/posc-mail-bench.XXXXXX")
smtp_pid=
cleanup() {
    if [ -n "$smtp_pid" ]; then kill "$smtp_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$bin" --database-url "sqlite://$work/unused.db" demo --scale "$scale" --out "$work/data" --no-import \
    --as-of 2026-10-01 >/dev/null 2>&1
export POSC_REVIEW__SMTP__HOST=127.0.0.1 POSC_REVIEW__SMTP__TLS=none
duplicates=0
for r in $(seq 1 "$repeat"); do
    if [ -n "${BENCH_PG_URL:-}" ]; then
        name="posc_mail_bench_$r"
        psql -q "$BENCH_PG_URL" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
        db="${BENCH_PG_URL%/*}/$name"
    else
        db="sqlite://$work/store-$r.db"
    fi
    "$bin" --database-url "$db" import "$work/data" >/dev/null 2>&1
    # Nothing listens on this port: the review queues its mail and its delivery pass stops at once.
    POSC_REVIEW__SMTP__PORT=$(free_port) "$bin" --database-url "$db" review --as-of 2026-10-01 --send \
        --out "$work/out-$r" >/dev/null 2>&1 || true
    port=$(free_port)
    python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$work/box-$r" &
    smtp_pid=$!
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.1; done
    start=$(date +%s.%N)
    RUST_LOG=info POSC_REVIEW__SMTP__PORT=$port "$bin" --log-format json --database-url "$db" send --now \
        >"$work/send.out" 2>"$work/send.log" &
    sender=$!
    if [ -n "${KILL:-}" ]; then
        sleep "$(python3 -c 'import random; print(random.uniform(1.0, 3.0))')"
        kill -9 "$sender" 2>/dev/null || echo "run $r: the pass had ended before the kill"
        wait "$sender" 2>/dev/null || true
        sleep 1 # what the kernel still had to send reaches the server
    else
        wait "$sender" || { cat "$work/send.out" "$work/send.log"; exit 1; }
    fi
    end=$(date +%s.%N)
    kill "$smtp_pid"; wait "$smtp_pid" 2>/dev/null || true; smtp_pid=
    received=$(find "$work/box-$r/new" -type f | wc -l)
    if [ -n "${KILL:-}" ]; then
        recorded=$("$bin" --database-url "$db" send --list --format json |
            python3 -c 'import json, sys; print(sum(m["state"] == "sent" for m in json.load(sys.stdin)))')
        if [ "$received" -gt "$recorded" ]; then duplicates=$((duplicates + 1)); fi
        echo "run $r: killed after $recorded messages recorded sent; the server had accepted $received"
    else
        python3 - "$received" "$start" "$end" "$r" "$work/send.log" <<'PY'
import json, os, statistics, sys
n, seconds, run = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]), sys.argv[4]
smtp, data, record = [], [], []
for line in open(sys.argv[5]):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "mail sent" and "data_us" in fields:
        smtp.append(fields["smtp_us"] / 1000)
        data.append(fields["data_us"] / 1000)
        record.append(fields["record_us"] / 1000)
cycle = seconds * 1000 / n
line = f"run {run}: {n} messages in {seconds:.2f} s: {n / seconds:.0f} messages/s, {cycle:.1f} ms each"
if smtp:  # a build that logs the timings
    window = statistics.mean(data) + statistics.mean(record)
    line += (f"; medians: SMTP {statistics.median(smtp):.2f} ms, of which the data to the server's 250 "
             f"{statistics.median(data):.2f} ms, then recording it sent {statistics.median(record):.2f} ms; "
             f"window (data + recording, means) {window:.1f} ms = {100 * window / cycle:.0f}% of the cycle")
print(f"{line}; load average {os.getloadavg()[0]:.1f}")
PY
    fi
    if [ -n "${BENCH_PG_URL:-}" ]; then psql -q "$BENCH_PG_URL" -c "DROP DATABASE $name WITH (FORCE)"; fi
    rm -rf "$work/box-$r" "$work/out-$r"
done
if [ -n "${KILL:-}" ]; then
    echo "$duplicates of $repeat kills left a delivered message recorded as not sent"
fi
