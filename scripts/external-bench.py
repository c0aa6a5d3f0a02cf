#!/usr/bin/env python3
"""GetCallerIdentity from a client that is not iamd's: botocore signs the request, and processes of
plain Python replay its bytes over keep-alive connections, to iamd and to iamd-bench's trivial server
in the same run (rounds interleaved: trivial, iamd, trivial, …). Prints the medians and the ratio.

    .venv/bin/python scripts/external-bench.py --iamd target/release/iamd --bench target/release/iamd-bench

A cross-check of `iamd-bench`'s own client (which is Rust and shares its code with iamd): the
ratio should not depend on who sends the requests. Needs botocore (the test suite's venv has it).
"""

import argparse
import json
import multiprocessing as mp
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start(cmd, env=None):
    """Starts a server that prints `... listening on http://ADDR`; returns (process, (host, port))."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in p.stdout:
        m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
        if m:
            # Keep draining its output so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, (m.group(1), int(m.group(2)))
    raise SystemExit(f"{cmd[0]} exited before listening")


def signed(addr, akid, secret):
    """The raw bytes of a GetCallerIdentity request signed by botocore for this address."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = f"{addr[0]}:{addr[1]}"
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    req = AWSRequest(method="POST", url=f"http://{host}/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(akid, secret), "sts", "us-east-1").add_auth(req)
    head = f"POST / HTTP/1.1\r\nHost: {host}\r\n"
    for k, v in req.headers.items():
        head += f"{k}: {v}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return (head + body).encode()


def worker(addr, request, seconds, connections, out):
    """Keeps `connections` requests in flight (one per connection) for `seconds`; reports
    (answered, non-200 answers, latencies in ms)."""
    sel = selectors.DefaultSelector()
    state = {}
    for _ in range(connections):
        s = socket.create_connection(addr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [bytearray(), time.perf_counter()]
        s.send(request)
    done = errors = 0
    lat = []
    end = time.perf_counter() + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        for key, _ in sel.select(timeout=end - now):
            s = key.fileobj
            st = state[s]
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("the server closed a connection")
            st[0] += chunk
            buf = st[0]
            while True:
                h = buf.find(b"\r\n\r\n")
                if h < 0:
                    break
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", buf[:h])
                n = h + 4 + (int(m.group(1)) if m else 0)
                if len(buf) < n:
                    break
                if not buf.startswith(b"HTTP/1.1 200"):
                    errors += 1
                del buf[:n]
                t = time.perf_counter()
                done += 1
                lat.append((t - st[1]) * 1000)
                st[1] = t
                s.send(request)
    out.put((done, errors, lat))


def measure(addr, request, seconds, procs, connections):
    out = mp.Queue()
    ps = [mp.Process(target=worker, args=(addr, request, seconds, connections, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    results = [out.get() for _ in ps]
    for p in ps:
        p.join()
    done = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[2])
    p99 = lat[int(len(lat) * 0.99)] if lat else 0.0
    return done / seconds, sum(r[1] for r in results), p99


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iamd", default="target/release/iamd")
    ap.add_argument("--bench", default="target/release/iamd-bench", help="iamd-bench, for its trivial server")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections per process")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        v = json.loads(subprocess.run([a.iamd, "init", "--data-dir", data, "--json"], check=True, capture_output=True, text=True).stdout)
        env = dict(os.environ, IAMD_LOG="warn")
        iamd, iamd_addr = start([a.iamd, "serve", "--listen", "127.0.0.1:0", "--data-dir", data], env)
        trivial, trivial_addr = start([a.bench, "--trivial-server", "127.0.0.1:0"])
        try:
            runs = {"trivial": [], "iamd": []}
            print(f"external client: {a.procs} Python processes x {a.connections} connections, {a.seconds:g} s a run, {a.rounds} rounds, machine has {os.cpu_count()} cores")
            for _ in range(a.rounds):
                for name, addr in (("trivial", trivial_addr), ("iamd", iamd_addr)):
                    # Signed afresh each round (well inside SigV4's 5-minute window).
                    rps, errors, p99 = measure(addr, signed(addr, v["access_key_id"], v["secret_access_key"]), a.seconds, a.procs, a.connections)
                    if errors:
                        raise SystemExit(f"{name}: {errors} answers were not 200")
                    runs[name].append((rps, p99))
            med = {k: sorted(r)[len(r) // 2] for k, r in runs.items()}
            print("| target | requests/s (median) | p99 ms | every round |")
            print("|---|---:|---:|---|")
            for k in ("trivial", "iamd"):
                print(f"| {k} | {med[k][0]:.0f} | {med[k][1]:.2f} | {', '.join(f'{r:.0f}' for r, _ in runs[k])} |")
            print(f"iamd at {100 * med['iamd'][0] / med['trivial'][0]:.0f}% of the trivial server")
        finally:
            for p in (iamd, trivial):
                p.terminate()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
