#!/usr/bin/env python3
"""Builds the test binaries once and runs every pass of them, two at a time.

`scripts/test.sh` calls this for its test passes. Most test binaries are short and spend their
time waiting (for a server to start, a timeout, a reconnection), so they run beside the long
ones instead of after them. The long ones (Node-driven suites, the browser, the unit tests'
property tests) load both cores by themselves and run one at a time, longest first, so that
their heartbeat timings see the machine as a serial run would. The same binary never runs twice
at once (two passes of one binary may share files, such as the README test's crate).

A binary that fails is run again once, alone, after the others: a failure that does not repeat
is reported as flaky (with its output) but does not fail the run; one that repeats does.

Passes (the environment each runs with):
- io_uring: every test binary of the workspace (unit, integration, examples), default backend;
- epoll (VOLLEY_BACKEND=epoll): volley's integration tests but the protocol suites, which
  check the protocols through Node scripts and run in the other two passes;
- direct (VOLLEY_BACKEND=uring VOLLEY_URING_DIRECT=1 VOLLEY_PER_MESSAGE_DEFLATE=1): volley's
  unit and integration tests with io_uring direct descriptors and permessage-deflate offered
  wherever a server reads the environment;
- no tokio: the asynchronous-hook tests built without the `tokio` feature, which must refuse
  such hooks at listen.
The last two passes skip the tests that drive only Node's reference server (they do not depend
on Volley's backend). A failed binary's whole output is printed; the exit status is 1 if any
failed. TEST_JOBS sets how many binaries run at once (default 2).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

FEATURES = ["--features", "volley/tokio,volley/tls"]
# Suites that check the protocols through Node scripts: not repeated on epoll.
PROTOCOL_SUITES = {"parity", "protocol_suites", "sio_msgpack", "browser", "readme", "admin_ui",
                   "eio3"}
# Tests that drive only Node's reference server: run once, in the io_uring pass.
NODE_ONLY = ["--skip", "::node_", "--skip", "node_query_and_headers",
             "--skip", "the_reference_server_does_what"]
# Binaries that take 6 s or more in a serial run, longest first: one of them at a time.
HEAVY = ["browser", "parity", "readme", "protocol_suites", "sio_msgpack", "client_interop",
         "sio_bad_input", "volley", "sio_rooms", "sio_interop", "redis_cluster",
         "redis_faults", "node_echo", "eio3", "admin_ui", "redis_sharded"]


def build(args):
    """Builds `cargo test ARGS` without running it; the test binaries it made."""
    cmd = ["cargo", "test", *args, "--no-run", "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    bins = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        bins.append({
            "name": msg["target"]["name"],
            "kind": msg["target"]["kind"][0],
            "path": msg["executable"],
            "dir": os.path.dirname(msg["manifest_path"]),
            "volley": msg["manifest_path"].endswith("engine/Cargo.toml"),
        })
    return bins


def job(label, binary, env=None, args=()):
    return {"label": f"{label}: {binary['name']}", "binary": binary, "env": env or {},
            "args": list(args)}


def plan(main, no_tokio):
    jobs = [job("io_uring", b) for b in main]
    epoll = {"VOLLEY_BACKEND": "epoll"}
    jobs += [job("epoll", b, epoll, NODE_ONLY) for b in main
             if b["volley"] and b["kind"] == "test" and b["name"] not in PROTOCOL_SUITES]
    direct = {"VOLLEY_BACKEND": "uring", "VOLLEY_URING_DIRECT": "1",
              "VOLLEY_PER_MESSAGE_DEFLATE": "1"}
    jobs += [job("direct", b, direct, NODE_ONLY) for b in main
             if b["volley"] and b["kind"] in ("lib", "test")]
    jobs += [job("no tokio", b, {}, NODE_ONLY) for b in no_tokio]
    rank = {name: i for i, name in enumerate(HEAVY)}
    for j in jobs:
        j["heavy"] = j["binary"]["name"] in rank
    jobs.sort(key=lambda j: rank.get(j["binary"]["name"], len(HEAVY)))
    return jobs


def run(jobs, parallel, started):
    """Runs `jobs`, at most `parallel` at once and one heavy one; the jobs that failed."""
    logs = tempfile.mkdtemp(prefix="volley-tests-")
    pending, running, failed = list(jobs), [], []
    while pending or running:
        busy = {r["job"]["binary"]["path"] for r in running}
        heavy = any(r["job"]["heavy"] for r in running)
        while len(running) < parallel:
            nxt = next((j for j in pending if j["binary"]["path"] not in busy
                        and not (heavy and j["heavy"])), None)
            if nxt is None:
                break
            pending.remove(nxt)
            busy.add(nxt["binary"]["path"])
            heavy = heavy or nxt["heavy"]
            log = open(os.path.join(logs, f"{len(pending)}.log"), "w+")
            proc = subprocess.Popen([nxt["binary"]["path"], *nxt["args"]],
                                    cwd=nxt["binary"]["dir"], env={**os.environ, **nxt["env"]},
                                    stdout=log, stderr=subprocess.STDOUT)
            running.append({"job": nxt, "proc": proc, "log": log, "t": time.monotonic()})
        time.sleep(0.05)
        for r in [r for r in running if r["proc"].poll() is not None]:
            running.remove(r)
            took = time.monotonic() - r["t"]
            r["log"].seek(0)
            output = r["log"].read()
            r["log"].close()
            summary = [l for l in output.splitlines() if l.startswith("test result:")]
            ok = r["proc"].returncode == 0
            print(f"{'ok  ' if ok else 'FAIL'} [{time.monotonic() - started:5.0f} s] "
                  f"{r['job']['label']} ({took:.1f} s) {summary[-1] if summary else ''}",
                  flush=True)
            if not ok:
                failed.append(r["job"])
                print(output, flush=True)
    return failed


def main():
    """Builds, plans and runs the passes; exits 1 if a binary failed twice."""
    parallel = int(os.environ.get("TEST_JOBS", "2"))
    main_bins = build(["--workspace", "--lib", "--bins", "--tests", "--examples", *FEATURES])
    no_tokio = build(["-p", "volley", "--test", "sio_async_events", "--test",
                      "sio_async_connect"])
    # The example servers the integration tests start, built as the tests build them (see
    # example_binary in engine/tests/common), before the tests run side by side.
    subprocess.run(["cargo", "build", "-q", "-p", "volley", "--examples", "--features",
                    "tokio,tls"], check=True)
    started = time.monotonic()
    failed = run(plan(main_bins, no_tokio), parallel, started)
    if failed:
        print(f"again, alone: {', '.join(j['label'] for j in failed)}", flush=True)
        again = run(failed, 1, started)
        flaky = [j["label"] for j in failed if j not in again]
        if flaky:
            print("FLAKY (failed once, passed alone; output above):\n  " + "\n  ".join(flaky))
        if again:
            print("failed:\n  " + "\n  ".join(j["label"] for j in again))
            sys.exit(1)


if __name__ == "__main__":
    main()
