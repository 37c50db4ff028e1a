#!/usr/bin/env python3
"""Helpers of the Usher benchmark (bench/run): sign in through the real flow, run one wrk
scenario while sampling the server's CPU and memory, measure the signing and argon2id
ceilings, and render the report. Standard library only.

Every subcommand prints or appends JSON; bench/run owns processes, databases and
clean-up.
"""

import argparse
import base64
import hashlib
import http.client
import json
import math
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.parse

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------- /proc


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


# --------------------------------------------------------------------------- sign-in


class Http:
    """One keep-alive connection to 127.0.0.1 that never follows redirects."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"refusing a non-loopback target: {base}")
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        return resp.status, resp.headers, data.decode("utf-8", "replace")


def pkce_pair():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def basic(client_id, secret):
    q = urllib.parse.quote_plus
    return "Basic " + base64.b64encode(f"{q(client_id)}:{q(secret)}".encode()).decode()


def authorize_path(client_id, redirect, scope, challenge, prompt_none):
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": scope,
        "state": "bench",
        "nonce": "bench-nonce",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if prompt_none:
        params["prompt"] = "none"
    return "/authorize?" + urllib.parse.urlencode(params)


def cmd_signin(a):
    """Logs in once through /authorize → login form → code → /token and prints what the
    wrk scripts need: the session cookie, tokens, and a PKCE pair."""
    h = Http(a.base)
    verifier, challenge = pkce_pair()
    status, _, page = h.request("GET", authorize_path(a.client_id, a.redirect, a.scope, challenge, False))
    if status != 200:
        raise SystemExit(f"GET /authorize gave {status}: {page[:300]}")
    fields = {}
    for name in ("pending",):
        m = re.search(rf'name="{name}" value="([^"]+)"', page)
        if not m:
            raise SystemExit(f"the login page has no {name} field")
        fields[name] = m.group(1)
    form = urllib.parse.urlencode({**fields, "username": a.username, "password": a.password})
    status, headers, body = h.request("POST", "/authorize/login", form)
    location = headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [None])[0]
    if status != 303 or not code:
        raise SystemExit(f"login gave {status} {location!r}: {body[:300]}")
    session = h.cookies.get("usher-session")
    if not session:
        raise SystemExit("login set no usher-session cookie")
    form = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": a.redirect, "code_verifier": verifier}
    )
    status, _, body = h.request("POST", "/token", form, {"Authorization": basic(a.client_id, a.client_secret)})
    if status != 200:
        raise SystemExit(f"code exchange gave {status}: {body[:300]}")
    tokens = json.loads(body)
    print(
        json.dumps(
            {
                "session_cookie": f"usher-session={session}",
                "access_token": tokens["access_token"],
                "has_id_token": "id_token" in tokens,
                "refresh_token": tokens.get("refresh_token"),
                "verifier": verifier,
                "challenge": challenge,
                "authorize_prompt_none": authorize_path(a.client_id, a.redirect, a.scope, challenge, True),
                "authorize_login": authorize_path(a.client_id, a.redirect, a.scope, challenge, False),
                "basic": basic(a.client_id, a.client_secret),
            }
        )
    )


# --------------------------------------------------------------------------- scenarios


def load_results(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_run(a):
    """Runs one wrk scenario against the server `--pid`, records throughput, latency,
    the server's CPU (utime+stime delta) and memory, and wrk's own CPU."""
    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    env["BENCH_LUA_DIR"] = a.lua_dir
    threads, connections, delay_ms = a.threads, a.connections, 0
    if a.half_of:
        # p99 at about half the maximum rate: enough connections that each can wait
        # `delay` ms between its requests (wrk's delay() hook), delay = (2c − 1)/R.
        base = [r for r in load_results(a.results) if r["name"] == a.half_of and r["backend"] == a.backend]
        if not base or base[-1]["rps"] <= 0:
            print(f"  (skipping {a.name}: no result for {a.half_of})", file=sys.stderr)
            return
        rate = base[-1]["rps"]
        connections = max(4, min(128, math.ceil((0.02 * rate + 1) / 2)))
        delay_ms = max(1, round((2 * connections - 1) / rate * 1000))
        threads = connections if a.per_connection_threads else min(2, connections)
        env["BENCH_DELAY_MS"] = str(delay_ms)
        target = rate / 2
    else:
        target = None
    out = os.path.join(a.tmp, f"wrk-{a.backend}-{a.name}.json")
    if os.path.exists(out):
        os.unlink(out)
    env["BENCH_OUT"] = out
    if urllib.parse.urlsplit(a.script_url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing a non-loopback target: {a.script_url}")
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{a.duration}s", "--timeout", "10s",
           "-s", os.path.join(a.lua_dir, a.script), a.script_url.rstrip("/") + a.path]
    if a.wrk_cpus:
        cmd = ["taskset", "-c", a.wrk_cpus] + cmd
    cpu0 = proc_cpu_seconds(a.pid)
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - t0
    cpu1 = proc_cpu_seconds(a.pid)
    log = child.stdout.read().decode("utf-8", "replace")
    mem = proc_memory_kb(a.pid)
    if status != 0 or not os.path.exists(out):
        print(log, file=sys.stderr)
        raise SystemExit(f"wrk failed for {a.name} (status {status})")
    with open(out) as f:
        w = json.load(f)
    seconds = w["duration_us"] / 1e6
    errors = w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"] + w["bad"]
    units = w["units"] if a.units_from_script else w["requests"] - errors
    server_cpu = cpu1 - cpu0
    wrk_cpu = usage.ru_utime + usage.ru_stime
    rec = {
        "backend": a.backend,
        "name": a.name,
        "label": a.label or a.name,
        "kind": a.kind,
        "unit": a.unit,
        "threads": threads,
        "connections": connections,
        "delay_ms": delay_ms,
        "target_rps": target,
        "seconds": round(seconds, 2),
        "requests": w["requests"],
        "rps": w["requests"] / seconds,
        "units": units,
        "ups": units / seconds,
        "errors": errors,
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "server_cpu_s": server_cpu,
        "server_cpu_pct": 100 * server_cpu / wall,
        "cpu_s_per_1k_req": 1000 * server_cpu / w["requests"] if w["requests"] else None,
        "cpu_s_per_1k_units": 1000 * server_cpu / units if units else None,
        "wrk_cpu_pct": 100 * wrk_cpu / wall,
        "rss_mb": mem.get("VmRSS", 0) / 1024,
        "hwm_mb": mem.get("VmHWM", 0) / 1024,
        "server_threads": mem.get("Threads"),
        "server_cores": a.server_cores,
    }
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    half = f" (delay {delay_ms} ms, aiming at {target:.0f} req/s)" if target else ""
    print(
        f"  {a.backend:<14} {rec['label']:<34} {rec['rps']:>9.0f} req/s {rec['ups']:>9.1f} {a.unit}/s"
        f"  p50 {rec['p50_ms']:.2f} ms  p99 {rec['p99_ms']:.2f} ms  server CPU {rec['server_cpu_pct']:.0f}%"
        f"  wrk CPU {rec['wrk_cpu_pct']:.0f}%  RSS {rec['rss_mb']:.1f}/{rec['hwm_mb']:.1f} MB  errors {errors}{half}",
        flush=True,
    )
    if errors and errors > 0.01 * max(1, w["requests"]):
        print(f"  WARNING: {errors} errors in {a.name}; wrk said:\n{log}", file=sys.stderr)


def cmd_sample(a):
    """Records the server's memory now (idle RSS)."""
    mem = proc_memory_kb(a.pid)
    rec = {
        "backend": a.backend,
        "name": a.name,
        "label": a.label,
        "kind": "memory",
        "rss_mb": mem["VmRSS"] / 1024,
        "hwm_mb": mem["VmHWM"] / 1024,
        "server_threads": mem.get("Threads"),
        "server_cpu_s": proc_cpu_seconds(a.pid),
    }
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"  {a.backend:<14} {a.label:<34} RSS {rec['rss_mb']:.1f} MB (peak {rec['hwm_mb']:.1f} MB)", flush=True)


# --------------------------------------------------------------------------- ceilings


def cmd_rsa(a):
    """RSA-2048 sign/verify per second of one core: `openssl speed -seconds N rsa2048`."""
    cmd = ["taskset", "-c", a.cpu, "openssl", "speed", "-seconds", str(a.seconds), "rsa2048"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    m = re.search(r"^rsa\s+2048 bits\s+(\S+)s\s+(\S+)s\s+(\S+)\s+(\S+)", out, re.M)
    if not m:
        raise SystemExit(f"cannot parse openssl speed output:\n{out}")
    rec = {"rsa2048_sign_per_s": float(m.group(3)), "rsa2048_verify_per_s": float(m.group(4)),
           "openssl": version, "command": " ".join(cmd)}
    print(json.dumps(rec))


def cmd_argon2(a):
    """The argon2id ceiling of one core, measured two ways:

    usher: CPU seconds of `usher user set-password` (one argon2id hash with Usher's own
    code and parameters, plus start-up and one UPDATE) minus CPU seconds of
    `usher user show` (the same start-up and one SELECT), medians over --runs runs,
    pinned to the server's core. A verification costs what a hash costs.

    libargon2 (if the argon2-cffi package is importable): the reference C library with
    the same parameters (m=19456 KiB, t=2, p=1), in-process on the same core.
    """
    env = dict(os.environ)
    def cpu_of(args, stdin=None):
        child = subprocess.Popen(["taskset", "-c", a.cpu, a.usher] + args, env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        child.stdin.write((stdin or "").encode())
        child.stdin.close()
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            raise SystemExit(f"{args} failed: {child.stderr.read().decode()}")
        return usage.ru_utime + usage.ru_stime
    show, setpw = [], []
    for _ in range(a.runs):
        show.append(cpu_of(["user", "show", a.username, "--json"]))
        setpw.append(cpu_of(["user", "set-password", a.username, "--password-stdin",
                             "--keep-sessions"], a.password + "\n"))
    hash_s = statistics.median(setpw) - statistics.median(show)
    rec = {
        "argon2_usher_s": hash_s,
        "argon2_usher_per_s": 1 / hash_s if hash_s > 0 else None,
        "argon2_usher_runs": a.runs,
        "argon2_usher_setpw_median_s": statistics.median(setpw),
        "argon2_usher_show_median_s": statistics.median(show),
    }
    try:
        from argon2.low_level import Type, hash_secret_raw  # type: ignore

        os.sched_setaffinity(0, {int(a.cpu)})
        n, t0 = 0, time.process_time()
        while time.process_time() - t0 < 2.0:
            hash_secret_raw(b"a benchmark passphrase", os.urandom(16), time_cost=2, memory_cost=19456,
                            parallelism=1, hash_len=32, type=Type.ID)
            n += 1
        rec["argon2_lib_per_s"] = n / (time.process_time() - t0)
    except ImportError:
        rec["argon2_lib_per_s"] = None
    print(json.dumps(rec))


# --------------------------------------------------------------------------- report


def fmt(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def cmd_report(a):
    results = load_results(a.results)
    with open(a.ceilings) as f:
        ceil = json.load(f)
    sign = ceil["rsa2048_sign_per_s"]
    verify = ceil["rsa2048_verify_per_s"]
    # The higher (stricter) of the two argon2id measurements: the CLI's figure includes
    # faulting in 19 MiB of fresh memory per process, which a warm server does not pay.
    argon = max([x for x in (ceil.get("argon2_usher_per_s"), ceil.get("argon2_lib_per_s")) if x] or [0]) or None

    def ratio(r):
        k = r["kind"]
        cores = r.get("server_cores") or 1  # the ceiling is one core's
        if k == "sign1":
            return r["ups"] / (cores * sign), "1 sig" + (f" × {cores} cores" if cores > 1 else "")
        if k == "sign2":
            return r["ups"] / (cores * sign / 2), "2 sig" + (f" × {cores} cores" if cores > 1 else "")
        if k == "verify1":
            return r["ups"] / (cores * verify), "verify" + (f" × {cores} cores" if cores > 1 else "")
        if k == "argon2" and argon:
            return r["ups"] / argon, "argon2id"
        return None, ""

    lines = []
    w = lines.append
    w(f"# Usher benchmark — {ceil['date']}")
    w("")
    w(f"- Machine: {ceil['cpu_model']}, `nproc` = {ceil['nproc']}, load average at start {ceil['loadavg']}")
    w(f"- Mode: `{ceil['mode']}`, {ceil['duration']} s per scenario; server on CPU {ceil['server_cpus']}, wrk on CPU {ceil['wrk_cpus']}")
    w(f"- Binary: `{ceil['usher_bin']}` ({ceil['usher_version']}, commit {ceil.get('git', '?')})")
    if ceil.get("vendored_sign_per_cpu_s"):
        w(f"- The OpenSSL Usher links ({ceil['vendored_openssl']}, vendored), signing as Usher does (bench/signer/rs256.c): "
          f"{fmt(ceil['vendored_sign_per_cpu_s'])} RS256 signatures per CPU-second of CPU {ceil['server_cpus']}")
    w(f"- RSA-2048 ceiling of CPU {ceil['server_cpus']}: **{fmt(sign)} signatures/s**, {fmt(verify)} verifications/s "
      f"(`{ceil['command']}`, {ceil['openssl']})")
    if ceil.get("rsa2048_sign_per_s_end"):
        w(f"- RSA-2048 ceiling measured again at the end: {fmt(ceil['rsa2048_sign_per_s_end'])} signatures/s "
          "(a large difference means the machine was busy: treat the figures as provisional)")
    libtxt = f"; libargon2 (argon2-cffi) on the same core: {fmt(ceil.get('argon2_lib_per_s'), 1)}/s" if ceil.get("argon2_lib_per_s") else ""
    w(f"- argon2id (m=19456 KiB, t=2, p=1) on CPU {ceil['server_cpus']}: {fmt(ceil.get('argon2_usher_per_s'), 1)} hashes/s with Usher's own code "
      f"(CPU of `usher user set-password` − `usher user show`, medians of {ceil.get('argon2_usher_runs')} runs){libtxt}; "
      f"the ceiling used is the higher: **{fmt(argon, 1)}/s**")
    w("")
    w("| backend | scenario | conns | req/s | units/s | ratio to ceiling | units per server CPU-s (ratio) | p50 ms | p99 ms | server CPU | CPU s / 1k req | wrk CPU | RSS MB (now / peak) | errors |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        if r["kind"] == "memory":
            w(f"| {r['backend']} | {r['label']} | | | | | | | | | | | {r['rss_mb']:.1f} / {r['hwm_mb']:.1f} | |")
            continue
        q, what = ratio(r)
        rtxt = f"{100 * q:.0f} % of {what}" if q is not None else ""
        # Per CPU-second of the server: robust to other processes sharing its core
        # (openssl speed, too, divides by CPU time, not wall time).
        per_cpu = r["units"] / r["server_cpu_s"] if r.get("server_cpu_s") else None
        ctxt = fmt(per_cpu)
        if per_cpu is not None and q is not None and r["ups"]:
            ctxt += f" ({100 * q * per_cpu / r['ups']:.0f} %)"
        conns = f"{r['connections']}" + (f" (+{r['delay_ms']} ms delay)" if r.get("delay_ms") else "")
        w(
            f"| {r['backend']} | {r['label']} | {conns} | {fmt(r['rps'])} | {fmt(r['ups'], 1)} {r['unit']} | {rtxt} | {ctxt} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['server_cpu_pct']:.0f} % | {fmt(r['cpu_s_per_1k_req'], 3)} | "
            f"{r['wrk_cpu_pct']:.0f} % | {r['rss_mb']:.1f} / {r['hwm_mb']:.1f} | {r['errors']} |"
        )
    w("")
    w("Ratios: client_credentials ÷ signatures/s; code exchange and refresh (units = pairs / refreshes, two signatures "
      "each with openid) ÷ signatures/s ÷ 2; userinfo ÷ verifications/s; logins ÷ argon2id hashes/s. "
      "Server CPU = utime+stime of the whole `usher serve` process over the run's wall time (100 % = one core). "
      "Half-rate rows use wrk's delay() hook to run at about half the maximum request rate. "
      "`openssl speed` divides by CPU time; the 'per server CPU-s' column does the same for Usher, so it stays "
      "comparable when other processes share the server's core (then the wall-clock ratio drops, this one does not).")
    w("")
    # Targets from issue 7.
    w("## Targets (issue 7)")
    w("")

    def find(backend, name):
        rs = [r for r in results if r["backend"] == backend and r["name"] == name]
        return rs[-1] if rs else None

    backends = []
    for r in results:
        if r["backend"] not in backends:
            backends.append(r["backend"])
    w("| target | backend | measured | met? |")
    w("| --- | --- | --- | --- |")

    def row(target, backend, measured, met):
        w(f"| {target} | {backend} | {measured} | {'met' if met else '**missed**'} |")

    for b in backends:
        if any(x.get("server_cores", 1) > 1 for x in results if x["backend"] == b):
            continue  # the two-core rows are compared with the one-core ones below
        r = find(b, "cc")
        if r:
            row("client_credentials ≥ 85 % of the signing ceiling", b, f"{100 * r['ups'] / sign:.0f} %", r["ups"] >= 0.85 * sign)
        r = find(b, "code")
        if r:
            row("code exchange ≥ 75 % of the two-signature ceiling", b, f"{100 * r['ups'] / (sign / 2):.0f} %", r["ups"] >= 0.75 * sign / 2)
        r = find(b, "refresh")
        if r:
            row("refresh ≥ 75 % of the two-signature ceiling", b, f"{100 * r['ups'] / (sign / 2):.0f} %", r["ups"] >= 0.75 * sign / 2)
        r = find(b, "userinfo")
        if r:
            row("userinfo ≥ 20,000 req/s", b, f"{r['rps']:,.0f} req/s", r["rps"] >= 20000)
        for n in ("jwks", "jwks-304", "discovery"):
            r = find(b, n)
            if r:
                row(f"{r['label']} ≥ 50,000 req/s", b, f"{r['rps']:,.0f} req/s", r["rps"] >= 50000)
        for r in [x for x in results if x["backend"] == b and x.get("delay_ms")]:
            row(f"p99 < 10 ms at half the maximum rate ({r['label']})", b,
                f"p99 {r['p99_ms']:.2f} ms at {r['rps']:,.0f} req/s (aimed {r['target_rps']:,.0f})", r["p99_ms"] < 10)
        r = find(b, "idle")
        if r:
            row("idle RSS < 30 MB", b, f"{r['rss_mb']:.1f} MB", r["rss_mb"] < 30)
        peaks = [x["hwm_mb"] for x in results if x["backend"] == b]
        if peaks and any(x["kind"] != "memory" for x in results if x["backend"] == b):
            row("RSS < 100 MB under load (peak, VmHWM)", b, f"{max(peaks):.1f} MB", max(peaks) < 100)
    two = [r for r in results if r.get("server_cores") == 2 and r["kind"] != "memory"]
    for r2 in two:
        one = find("sqlite", r2["name"])
        if one and one["ups"] > 0:
            s = r2["ups"] / one["ups"]
            row(f"two cores ≥ 1.7× one core ({r2['name']}; wrk shares the cores)", r2["backend"], f"{s:.2f}×", s >= 1.7)
    w("")
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("signin")
    s.add_argument("--base", required=True)
    s.add_argument("--client-id", required=True)
    s.add_argument("--client-secret", required=True)
    s.add_argument("--username", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--scope", required=True)
    s.add_argument("--redirect", required=True)
    s.set_defaults(fn=cmd_signin)

    r = sub.add_parser("run")
    r.add_argument("--backend", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--label")
    r.add_argument("--kind", default="plain", choices=["plain", "sign1", "sign2", "verify1", "argon2"])
    r.add_argument("--unit", default="req")
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--url", dest="script_url", required=True, help="the server's base URL")
    r.add_argument("--path", default="/", help="the request path of static.lua")
    r.add_argument("--script", required=True)
    r.add_argument("--lua-dir", required=True)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--connections", type=int, default=16)
    r.add_argument("--per-connection-threads", action="store_true",
                   help="the script keeps per-connection state: one thread per connection")
    r.add_argument("--units-from-script", action="store_true")
    r.add_argument("--duration", type=int, required=True)
    r.add_argument("--wrk-cpus", default="1")
    r.add_argument("--server-cores", type=int, default=1)
    r.add_argument("--half-of")
    r.add_argument("--results", required=True)
    r.add_argument("--tmp", required=True)
    r.add_argument("--env", action="append", default=[])
    r.set_defaults(fn=cmd_run)

    m = sub.add_parser("sample")
    m.add_argument("--backend", required=True)
    m.add_argument("--name", required=True)
    m.add_argument("--label", required=True)
    m.add_argument("--pid", type=int, required=True)
    m.add_argument("--results", required=True)
    m.set_defaults(fn=cmd_sample)

    c = sub.add_parser("rsa")
    c.add_argument("--cpu", default="0")
    c.add_argument("--seconds", type=int, default=3)
    c.set_defaults(fn=cmd_rsa)

    g = sub.add_parser("argon2")
    g.add_argument("--cpu", default="0")
    g.add_argument("--usher", required=True)
    g.add_argument("--username", required=True)
    g.add_argument("--password", required=True)
    g.add_argument("--runs", type=int, default=7)
    g.set_defaults(fn=cmd_argon2)

    o = sub.add_parser("report")
    o.add_argument("--results", required=True)
    o.add_argument("--ceilings", required=True)
    o.add_argument("--out", required=True)
    o.set_defaults(fn=cmd_report)

    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
