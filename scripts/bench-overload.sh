#!/usr/bin/env bash
# Overload (issue 19): a Socket.IO room broadcast past what its readers take. bench_server gets
# one worker pinned to core 0; volley-loadgen's members read on the other core(s). For each
# backend the script first finds the knee, the highest rate the members keep up with (short runs
# from BENCH_START_RATE, doubling while every delivery arrives and the members take at least
# BENCH_KEEP_UP of the offered deliveries per second within the window, then two bisections), then sweeps the offered rate from 0.5x to 3x the knee, a
# fresh server per run. It prints one table per backend and writes an SVG plot of, against the
# offered rate: deliveries per server CPU-second, delivery latency (p50, p99), drops (deliveries
# lost, members cut by the server) and the server's peak RSS (VmHWM) over its RSS at rest (the
# same members connected, one broadcast a second), which is what the queues took, beside the
# budget.
#
# Env (defaults): BENCH_MEMBERS (1000), BENCH_PAYLOAD (64), BENCH_SECONDS (3; each run's window,
# after a 1 s warmup), BENCH_START_RATE (100 per second), BENCH_KEEP_UP
# (0.95), BENCH_BACKENDS
# (epoll uring), BENCH_FACTORS (0.5 1 1.5 2 2.5 3), VOLLEY_MAX_BUFFERED_TOTAL (64 MiB, a quarter
# of the server's default, so that the budget is reached within a short window), BENCH_PORT (37161), BENCH_SVG (benches/overload.svg), BENCH_OUT (a fresh
# temporary directory: one JSON file, log and metrics scrape per run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

members=${BENCH_MEMBERS:-1000}
payload=${BENCH_PAYLOAD:-64}
secs=${BENCH_SECONDS:-3}
start_rate=${BENCH_START_RATE:-100}
keep_up=${BENCH_KEEP_UP:-0.95}
backends=${BENCH_BACKENDS:-epoll uring}
factors=${BENCH_FACTORS:-0.5 1 1.5 2 2.5 3}
budget=${VOLLEY_MAX_BUFFERED_TOTAL:-67108864}
port=${BENCH_PORT:-37161}
svg=${BENCH_SVG:-benches/overload.svg}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-overload.XXXXXX)}
mkdir -p "$out"

build_release
split_cores 1
url=http://127.0.0.1:$port

# run BACKEND RATE NAME: a fresh bench_server on BACKEND, one broadcast run at RATE per second
# saved as $out/NAME.{json,log}, then its metrics ($out/NAME.metrics) and peak RSS
# ($out/NAME.hwm, KiB) before it stops.
run() {
  local backend=$1 rate=$2 name=$3 rc=0
  start_server "$out/$name.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=1 \
    VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 VOLLEY_BACKEND="$backend" \
    VOLLEY_MAX_BUFFERED_TOTAL="$budget" VOLLEY_METRICS_PATH=/metrics \
    taskset -c "$server_cores" "$target/examples/bench_server"
  run_load "$out/$name" broadcast --url "$url" -c "$members" --connect-rate 2000 --senders 1 \
    --rate "$rate" --payload "$payload" --duration "$secs" --warmup 1 --drain 1 || rc=$?
  if (( rc == 1 )); then cat "$out/$name.log"; exit 1; fi
  curl -s "$url/metrics" > "$out/$name.metrics" || true
  awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" > "$out/$name.hwm"
  stop_server
}

# keeps_up NAME RATE: whether the run NAME lost nothing and its members took at least $keep_up
# of the deliveries offered per second (RATE x members) within the window. (Not latency: on a
# shared machine the members' own core decides it more than the server.)
keeps_up() {
  python3 - "$out/$1.json" "$2" "$members" "$keep_up" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
offered = float(sys.argv[2]) * int(sys.argv[3])
ok = s["broadcast"]["lost"] == 0 and s["completed_per_s"] >= float(sys.argv[4]) * offered
sys.exit(0 if ok else 1)
PY
}

for backend in $backends; do
  echo "==> $backend: finding the knee (server core $server_cores, members on $client_cores)"
  good=0 bad=0 rate=$start_rate
  while (( bad == 0 )); do
    run "$backend" "$rate" "$backend-knee-$rate"
    if keeps_up "$backend-knee-$rate" "$rate"; then good=$rate; rate=$(( rate * 2 )); else bad=$rate; fi
    (( rate <= 64000 )) || break
  done
  (( good > 0 )) || { echo "the members do not keep up even at $start_rate/s"; exit 1; }
  for _ in 1 2; do
    (( bad > 0 )) || break
    rate=$(( (good + bad) / 2 ))
    run "$backend" "$rate" "$backend-knee-$rate"
    if keeps_up "$backend-knee-$rate" "$rate"; then good=$rate; else bad=$rate; fi
  done
  echo "$good" > "$out/$backend.knee"
  echo "    knee: $good broadcasts/s"
  echo "==> $backend at rest: the members connected, 1 broadcast/s"
  run "$backend" 1 "$backend-rest"
  for f in $factors; do
    rate=$(python3 -c "print(round($good * $f))")
    echo "==> $backend at ${f}x the knee: $rate broadcasts/s"
    run "$backend" "$rate" "$backend-x$f"
  done
done

echo
echo "bench_server, 1 worker pinned to core 0; load generator on cores $client_cores;" \
  "$members members, $payload-byte payloads, ${secs}s windows; max_buffered_total $budget bytes."
python3 - "$out" "$svg" "$budget" "$backends" "$factors" "$members" <<'PY'
import json, sys
out, svg, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
backends, factors, members = sys.argv[4].split(), sys.argv[5].split(), int(sys.argv[6])

def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0

def hwm_mib(name):
    kib = open(name + ".hwm").read().strip()
    return int(kib) / 1024 if kib else 0

rows = {}
for b in backends:
    knee = int(open(f"{out}/{b}.knee").read())
    rest = hwm_mib(f"{out}/{b}-rest")
    rows[b] = []
    for f in factors:
        name = f"{out}/{b}-x{f}"
        doc = json.load(open(name + ".json"))
        s = doc["summary"]
        m = open(name + ".metrics").read()
        bc, srv = s["broadcast"], s.get("server") or {}
        rows[b].append({
            "factor": float(f),
            "broadcasts/s": round(knee * float(f)),
            "deliveries/s": s["completed_per_s"],
            "per CPU-s": srv.get("completed_per_cpu_s") or 0,
            "CPU %": 100 * (srv.get("cpu_s") or 0) / doc["result"]["window_s"],
            "p50 ms": s["latency"]["p50_us"] / 1000,
            "p99 ms": s["latency"]["p99_us"] / 1000,
            "lost": bc["lost"],
            "cut": metric(m, "volley_slow_consumers_total"),
            "budget cuts": metric(m, "volley_budget_cuts_total"),
            "peak RSS MiB": hwm_mib(name),
            "over rest MiB": hwm_mib(name) - rest,
        })
    print(f"\n{b}: knee {knee} broadcasts/s ({knee * members:,} deliveries/s offered to {members} members); at rest {rest:.1f} MiB")
    keys = list(rows[b][0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "--:|" * len(keys))
    def fmt(v):
        return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    for r in rows[b]:
        print("| " + " | ".join(fmt(r[k]) for k in keys) + " |")
    knee_cost = next((r["per CPU-s"] for r in rows[b] if r["factor"] == 1.0), 0)
    if knee_cost:
        worst = min(r["per CPU-s"] for r in rows[b] if r["factor"] >= 1.0)
        print(f"deliveries per CPU-second past the knee: {worst / knee_cost:.2f}x the knee's at worst")
    most = max(r["over rest MiB"] for r in rows[b])
    print(f"queue memory (peak RSS over rest): {most:.1f} MiB at most, against a {budget / 2**20:.0f} MiB budget")

# The plot: four panels against the offered rate (as a multiple of each backend's knee).
W, H, PW, PH, M = 1040, 640, 400, 220, 60
panels = [
    ("deliveries per server CPU-second", lambda r: r["per CPU-s"], ""),
    ("delivery latency p50 / p99 (ms, log)", None, "log"),
    ("drops: deliveries lost / members cut", None, ""),
    ("server peak RSS over rest (MiB; dashed: budget)", lambda r: r["over rest MiB"], "rss"),
]
colors = {"epoll": "#1f77b4", "uring": "#d62728"}
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">Volley broadcast past the knee ({members} members, 1 worker; x: offered rate / knee)</text>']
import math
def series(i):
    out_series = []
    for b in backends:
        c = colors.get(b, "#2ca02c")
        if i == 1:
            out_series.append((b + " p50", c, "", [r["p50 ms"] for r in rows[b]]))
            out_series.append((b + " p99", c, "4 3", [r["p99 ms"] for r in rows[b]]))
        elif i == 2:
            out_series.append((b + " lost/1000", c, "", [r["lost"] / 1000 for r in rows[b]]))
            out_series.append((b + " cut", c, "4 3", [r["cut"] for r in rows[b]]))
        else:
            out_series.append((b, c, "", [panels[i][1](r) for r in rows[b]]))
    return out_series
xs = [float(f) for f in factors]
for i, (title, _, kind) in enumerate(panels):
    ox, oy = M + (i % 2) * (PW + 2 * M), 50 + (i // 2) * (PH + 2 * M)
    ss = series(i)
    vals = [v for (_, _, _, vs) in ss for v in vs]
    if kind == "rss":
        vals.append(budget / 2**20)
    log = kind == "log"
    tr = (lambda v: math.log10(max(v, 0.1))) if log else (lambda v: v)
    lo = tr(min(vals)) if log else 0
    hi = max(tr(v) for v in vals) if vals else 1
    hi = hi if hi > lo else lo + 1
    X = lambda x: ox + (x - min(xs)) / (max(xs) - min(xs) or 1) * PW
    Y = lambda v: oy + PH - (tr(v) - lo) / (hi - lo) * PH
    parts.append(f'<rect x="{ox}" y="{oy}" width="{PW}" height="{PH}" fill="none" stroke="#999"/>')
    parts.append(f'<text x="{ox + PW/2}" y="{oy - 8}" text-anchor="middle" font-size="12">{title}</text>')
    for x in xs:
        parts.append(f'<text x="{X(x):.1f}" y="{oy + PH + 14}" text-anchor="middle">{x:g}x</text>')
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        v = 10 ** t if log else t
        parts.append(f'<text x="{ox - 4}" y="{oy + PH - PH * k / 4 + 4:.1f}" text-anchor="end">{v:,.3g}</text>')
    if kind == "rss":
        y = Y(budget / 2**20)
        parts.append(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + PW}" y2="{y:.1f}" stroke="#555" stroke-dasharray="2 3"/>')
    for n, (label, c, dash, vs) in enumerate(ss):
        pts = " ".join(f"{X(x):.1f},{Y(v):.1f}" for x, v in zip(xs, vs))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for x, v in zip(xs, vs):
            parts.append(f'<circle cx="{X(x):.1f}" cy="{Y(v):.1f}" r="2.5" fill="{c}"/>')
        ly = oy + 12 + 13 * n
        parts.append(f'<line x1="{ox + 8}" y1="{ly - 4}" x2="{ox + 28}" y2="{ly - 4}" stroke="{c}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{ox + 32}" y="{ly}">{label}</text>')
parts.append("</svg>")
open(svg, "w").write("\n".join(parts) + "\n")
print(f"\nplot: {svg}")
PY
echo "Runs (JSON, logs, metrics): $out"
