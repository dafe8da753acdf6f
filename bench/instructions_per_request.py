#!/usr/bin/env python3
"""Instructions per request on each side of weft-bench's request scenarios, counted by
callgrind: the per-request cost of weft's own code (user space: the core, the adapter, the
bench's callbacks, libc and libxxhash), free of the clock and of whatever else the machine
runs, so two builds compare on one number even while CI runs beside them.

  bench/instructions_per_request.py WEFT_BENCH [--scenario S] [--seconds S] [--top N]
                                    [--keep DIR]

Both processes run under valgrind (--trace-children). Callgrind writes a part of its
profile every 10 M basic blocks; on each side the part with the most requests (the steady
middle of the weft phase; the first part, which holds the process's start, only when no
other part has enough) is read: its instructions over its requests. A request is counted
where it enters weft's public API: EventNode::request on the client, PeerConnection::respond
on the server. Prints one JSON line per side (with the instructions per request of each
layer: core, adapter, bench, xxhash, libraries) and, per side, the functions with the most
instructions of their own per request. Exit status 77 when valgrind is missing (ctest
reports the test skipped), 1 when a side's profile has no steady part.

libevent's loop only: valgrind 3.19 keeps its lock on the process's threads through a
waiting io_uring_enter, so under --loop io_uring the server's main thread can wait for
ever (seen once in three runs).
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

SIDES = {
    "client": ("--scenario", r"^weft::io::EventNode::request\("),
    "server": ("--serve weft", r"^weft::PeerConnection::respond\("),
}
MIN_REQUESTS = 1000  # a part with fewer is too short to be steady


def read_part(path, marker):
    """(requests, total Ir, Ir of each function's own code) of one callgrind part."""
    names = {}
    own = collections.Counter()
    requests = 0
    function = callee = None
    call_cost_follows = False
    marker_re = re.compile(marker)
    with open(path, errors="replace") as part:
        for line in part:
            named = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?", line)
            if named:
                kind, number, name = named.groups()
                if name:
                    names[number] = name.strip()
                if kind == "fn":
                    function = number
                else:
                    callee = number
                continue
            calls = re.match(r"^calls=(\d+)", line)
            if calls:
                if marker_re.search(names.get(callee, "")):
                    requests += int(calls.group(1))
                call_cost_follows = True  # the next cost line is the callee's, inclusive
                continue
            if function is not None and re.match(r"^[+\-*0-9]", line):
                fields = line.split()
                if len(fields) < 2:
                    continue
                if call_cost_follows:
                    call_cost_follows = False
                else:
                    own[function] += int(fields[1])
    total = sum(own.values())
    return requests, total, {names.get(k, "?"): v for k, v in own.items()}


def layer_of(function):
    """Which part of the program a function belongs to, by its name (a release build has no
    file names): the bench's callbacks, the adapter (weft::io), the core (weft), XXH3, or
    the C and C++ libraries and libevent."""
    if "weft_bench" in function:
        return "bench"
    if function.startswith("weft::io::") or "weft::io::" in function.split("(")[0]:
        return "adapter"
    if function.startswith("weft::") or "<weft::" in function.split("(")[0]:
        return "core"
    if function.startswith("XXH"):
        return "xxhash"
    return "libraries"


def command_of(path):
    with open(path, errors="replace") as part:
        for line in part:
            if line.startswith("cmd:"):
                return line[4:].strip()
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weft_bench")
    parser.add_argument("--scenario", default="unary_pipeline_64B_x64")
    parser.add_argument("--seconds", default="6")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", help="write the callgrind profiles here and keep them")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("SKIP: valgrind is not installed (scripts/install-deps installs it)")
        return 77
    out_dir = args.keep or tempfile.mkdtemp(prefix="weft-callgrind-")
    os.makedirs(out_dir, exist_ok=True)
    command = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               "--dump-every-bb=10000000", f"--callgrind-out-file={out_dir}/cg.%p",
               args.weft_bench, "--scenario", args.scenario, "--seconds", args.seconds,
               "--pin", "same", "--rounds", "1", "--peers", "none", "--loop", "libevent"]
    environment = dict(os.environ)
    environment.pop("WEFT_LOOP_BACKEND", None)  # it would choose the loop over --loop
    # A session of its own, so a run that hangs goes with its server process.
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=environment, start_new_session=True)
    try:
        _, errors = run.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        print("FAIL: weft-bench under valgrind ran past 180 s")
        return 1
    if run.returncode != 0:
        print(errors[-2000:])
        print(f"FAIL: weft-bench under valgrind exited with {run.returncode}")
        return 1
    parts = sorted(f for f in os.listdir(out_dir) if re.match(r"^cg\.\d+\.\d+$", f))
    status = 0
    for side, (command_mark, marker) in SIDES.items():
        # The first part holds the process's start (the dynamic linker's relocations): it
        # is read only when no later part is long enough.
        best = None
        for name in sorted(parts, key=lambda n: (n.endswith(".1"), n)):
            path = os.path.join(out_dir, name)
            if command_mark not in command_of(path):
                continue
            requests, total, own = read_part(path, marker)
            if best is None or (requests > best[0] and not (
                    name.endswith(".1") and best[0] >= MIN_REQUESTS)):
                best = (requests, total, own, name)
        if best is None or best[0] < MIN_REQUESTS:
            print(f"FAIL: no part of the {side}'s profile has {MIN_REQUESTS} requests")
            status = 1
            continue
        requests, total, own, name = best
        layers = collections.Counter()
        for function, cost in own.items():
            layers[layer_of(function)] += cost
        print(json.dumps({"side": side, "scenario": args.scenario, "loop": "libevent",
                          "part": name, "requests": requests,
                          "instructions_per_request": round(total / requests, 1),
                          "by_layer": {layer: round(cost / requests, 1)
                                       for layer, cost in sorted(layers.items())}}))
        for function, cost in sorted(own.items(), key=lambda item: -item[1])[:args.top]:
            print(f"  {cost / requests:7.1f}  {function[:150]}")
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
