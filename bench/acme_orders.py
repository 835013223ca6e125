"""Complete ACME orders per second against the gateway and against Pebble, same driver, same run (issue #3).

    .venv/bin/python bench/acme_orders.py                          # Pebble, then a `serve --demo` it starts
    .venv/bin/python bench/acme_orders.py --target pebble          # Pebble only
    .venv/bin/python bench/acme_orders.py --target gateway \\
        --gateway-directory https://127.0.0.1:8443/acme/<endpoint>/directory --gateway-ca-bundle data/ca-bundle.pem

One order = newOrder (one dns name, unique per order: o<N>.<run>.bench.test) → POST-as-GET the authorization →
http-01 answered by an in-process aiohttp responder on 127.0.0.1 → poll the authorization → finalize with a fresh
ECDSA P-256 CSR → poll the order → download the chain. Each target gets one ES256 account, made before timing.
Concurrency 1, 8 and 32 run a fixed number of orders each (20/80/200) under a time cap; the script prints
orders/s, p50/p99 seconds per order, errors, where an order's time went, and the CPU each side used.

Names resolve through pebble-challtestsrv (DNS only, every A → 127.0.0.1, no AAAA): Pebble gets it as
`-dnsserver`, the gateway as EG_ACME__DNS_RESOLVERS; both dial http-01 at the responder's port (Pebble's
`httpPort`, the gateway's EG_ACME__HTTP01_PORT). Pebble runs with PEBBLE_VA_NOSLEEP=1 (no artificial validation
delay), PEBBLE_WFE_NONCEREJECT=0 (no random badNonce) and PEBBLE_AUTHZREUSE=0 (moot: names never repeat).
Pebble's HTTPS listener uses a throwaway CA this script writes (the Debian package ships no minica cert) and the
client trusts exactly that CA. Polls honour Retry-After up to --retry-after-cap, else wait --poll-interval: the
same rules for both servers. Everything runs on this machine, so the client's CPU is shown beside the server's.

Pebble runs fresh for each level, and a level that wedges it (Pebble 2.4's in-memory store can deadlock under
concurrency; `_watch` notices no order finishing for --stall-seconds) is run again on a new Pebble, at most
--pebble-attempts times. The wedge grows likelier with the orders per level: rare at 200, usual by 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import resource
import secrets
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts, not a package

import aiohttp  # noqa: E402

from acme_client import AcmeClient, AcmeError, Http01Responder, PollPolicy  # noqa: E402
import acme_procs  # noqa: E402

PHASES = ("new_order", "authz_and_challenge", "validation", "finalize", "download")


@dataclass(frozen=True)
class Target:
    """A directory to drive; only the URL (and how to trust it) is needed, whoever serves it."""

    name: str
    directory_url: str
    ssl: ssl.SSLContext | bool
    server_pid: int | None = None  # for the CPU column; None when the server is not ours
    eab_kid: str | None = None
    eab_hmac_key: str | None = None


@dataclass
class LevelResult:
    concurrency: int
    planned: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)
    phases: collections.Counter = field(default_factory=collections.Counter)
    server_cpu: float = float("nan")
    client_cpu: float = 0.0
    bad_nonce_retries: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def stalled(self) -> bool:
        return any(error.startswith("stalled:") for error in self.errors)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        """Nearest-rank percentile of the successful orders' seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _proc_cpu(pid: int | None) -> float:
    """User+system CPU seconds of another process (Linux /proc)."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_level(client: AcmeClient, responder: Http01Responder, concurrency: int, orders: int,
                    time_cap: float, run_tag: str, first_index: int, server_pid: int | None = None,
                    stall_seconds: float = 20.0) -> LevelResult:
    """`orders` complete orders, `concurrency` at a time; no new order starts after `time_cap` seconds, and the
    level is abandoned when no order has finished (either way) for `stall_seconds`."""
    result = LevelResult(concurrency, orders)
    next_index = 0
    retries_before = client.bad_nonce_retries
    cpu_server, cpu_client = _proc_cpu(server_pid), _own_cpu()
    started = time.monotonic()
    deadline = started + time_cap

    async def worker() -> None:
        nonlocal next_index
        while next_index < orders and time.monotonic() < deadline:
            name = f"o{first_index + next_index}.{run_tag}.bench.test"
            next_index += 1
            try:
                # The client's own deadline bounds every poll; this bounds a server that stops answering.
                order = await asyncio.wait_for(client.issue(name, responder), client.poll.deadline + 10)
            except (AcmeError, aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as exc:
                result.errors[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
                continue
            result.latencies.append(order.seconds)
            result.phases.update(order.phases)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await _watch(workers, result, stall_seconds)
    result.elapsed = time.monotonic() - started
    result.server_cpu = _proc_cpu(server_pid) - cpu_server
    result.client_cpu = _own_cpu() - cpu_client
    result.bad_nonce_retries = client.bad_nonce_retries - retries_before
    return result


async def _watch(workers: list[asyncio.Task], result: LevelResult, stall_seconds: float) -> None:
    """Wait for the workers; cancel them if nothing finishes for `stall_seconds` (a wedged server).

    Pebble 2.4's in-memory store can deadlock under concurrent newOrder and finalize (a lock-order inversion
    between FindValidAuthorization and CompleteOrder → AddCertificate, seen in a goroutine dump); without this the
    level would sit out every order's deadline.
    """
    last_progress, last_count = time.monotonic(), -1
    while True:  # bounded: each turn either sees progress, or the stall clock runs out
        done, pending = await asyncio.wait(workers, timeout=0.5)
        if not pending:
            break
        count = result.ok + sum(result.errors.values())
        if count != last_count:
            last_progress, last_count = time.monotonic(), count
        elif time.monotonic() - last_progress > stall_seconds:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            result.errors[f"stalled: no order finished in {stall_seconds:.0f}s; {len(pending)} in flight "
                          "abandoned"] += len(pending)
            break
    for task in workers:
        if task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # a driver bug, not a server answer: surface it


def print_level(target: str, r: LevelResult) -> None:
    phases = " ".join(f"{p} {1000 * r.phases[p] / r.ok:.0f}" for p in PHASES if r.ok and p in r.phases)
    cpu = (f"server {r.server_cpu / r.elapsed:4.2f} cores, " if not math.isnan(r.server_cpu) else "") + \
        f"client {r.client_cpu / r.elapsed:4.2f} cores"
    print(f"  {target:8} c={r.concurrency:<3} {r.ok:>4}/{r.planned:<4} ok {r.rate:7.2f} orders/s   "
          f"p50 {r.pct(0.50):6.3f} s   p99 {r.pct(0.99):6.3f} s   errors {sum(r.errors.values())}   "
          f"badNonce retries {r.bad_nonce_retries}   cpu: {cpu}", flush=True)
    if phases:
        print(f"           mean ms per phase: {phases}", flush=True)
    for error, count in r.errors.most_common(5):
        print(f"           {count} x {error}", flush=True)


async def run_target(target: Target, responder: Http01Responder, levels: list[int], orders: list[int],
                     time_cap: float, poll: PollPolicy, run_tag: str, stall_seconds: float = 20.0
                     ) -> list[LevelResult]:
    """Register one account, then every level in turn over one keep-alive session."""
    connector = aiohttp.TCPConnector(limit=max(levels) + 4, ssl=target.ssl, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=30)
    results: list[LevelResult] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = AcmeClient(session, target.directory_url, poll)
        await client.open()
        eab_kid, eab_key = target.eab_kid, target.eab_hmac_key
        if client.directory.get("meta", {}).get("externalAccountRequired") and not (eab_kid and eab_key):
            raise AcmeError(f"{target.name} requires External Account Binding: pass --gateway-eab-kid/-hmac-key")
        await client.register(eab_kid, eab_key)
        first = 0
        for level, count in zip(levels, orders):
            result = await run_level(client, responder, level, count, time_cap, f"{target.name[0]}{run_tag}", first,
                                     target.server_pid, stall_seconds)
            first += count
            print_level(target.name, result)
            results.append(result)
            if result.ok == 0:
                print(f"  {target.name}: no order completed at c={level}; skipping the higher levels", flush=True)
                break
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("pebble", "gateway", "both"), default="both")
    parser.add_argument("--gateway-directory", help="ACME directory URL of a running gateway")
    parser.add_argument("--gateway-ca-bundle", help="PEM that trusts --gateway-directory's HTTPS listener")
    parser.add_argument("--gateway-eab-kid", help="EAB key id, where the gateway's endpoint requires one")
    parser.add_argument("--gateway-eab-hmac-key", help="EAB HMAC key (base64url)")
    parser.add_argument("--start-gateway", action="store_true",
                        help="start `serve --demo` (SQLite) in a temp dir; implied for a gateway target without "
                             "--gateway-directory")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--orders", default="20,80,200", help="orders per level, comma-separated")
    parser.add_argument("--time-cap", type=float, default=120.0, help="no new order starts after this many s")
    parser.add_argument("--poll-interval", type=float, default=0.05, help="s between polls without Retry-After")
    parser.add_argument("--retry-after-cap", type=float, default=1.0, help="longest Retry-After honoured, s")
    parser.add_argument("--order-deadline", type=float, default=60.0, help="s one order may take")
    parser.add_argument("--stall-seconds", type=float, default=20.0,
                        help="abandon a level when no order finishes for this long (a wedged server)")
    parser.add_argument("--pebble-attempts", type=int, default=3,
                        help="runs of a level on fresh Pebbles when one wedges (Pebble 2.4 lock bug)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary line at the end")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")]
    args.orders = [int(x) for x in args.orders.split(",")]
    if len(args.orders) != len(args.levels):
        parser.error("--orders needs one count per level")
    if args.gateway_directory and args.start_gateway:
        parser.error("--gateway-directory and --start-gateway exclude each other")
    return args


def print_ratios(results: dict[str, list[LevelResult]]) -> None:
    pebble = {r.concurrency: r for r in results.get("pebble", [])}
    print("gateway / Pebble, orders/s:", flush=True)
    for r in results.get("gateway", []):
        p = pebble.get(r.concurrency)
        if p and p.rate:
            print(f"  c={r.concurrency:<3} {r.rate:7.2f} / {p.rate:7.2f} = {r.rate / p.rate:5.2f}"
                  + ("   (target >= 1.0 at c=32)" if r.concurrency == 32 else ""), flush=True)


def summary(results: dict[str, list[LevelResult]]) -> dict:
    return {name: {f"c{r.concurrency}": {"orders_per_s": round(r.rate, 2), "p50_s": round(r.pct(0.5), 3),
                                        "p99_s": round(r.pct(0.99), 3), "ok": r.ok,
                                        "errors": sum(r.errors.values())} for r in levels}
            for name, levels in results.items()}


async def amain(args: argparse.Namespace) -> int:
    poll = PollPolicy(args.poll_interval, args.retry_after_cap, deadline=args.order_deadline)
    run_tag = secrets.token_hex(3)  # names never repeat across runs against a long-lived gateway
    results: dict[str, list[LevelResult]] = {}
    failed = False
    started: list = []  # everything with .stop(), stopped in reverse, by PID
    with tempfile.TemporaryDirectory(prefix="eg-acme-bench-") as tmp:
        workdir = Path(tmp)
        responder = await Http01Responder().start()
        try:
            challtestsrv, dns_port = acme_procs.start_challtestsrv(workdir)
            started.append(challtestsrv)
            print(f"http-01 responder 127.0.0.1:{responder.port}; mock DNS 127.0.0.1:{dns_port}; "
                  f"levels {args.levels}, orders {args.orders}, cap {args.time_cap:.0f}s per level", flush=True)
            if args.target in ("pebble", "both"):
                results["pebble"] = await run_pebble(args, workdir, responder, dns_port, started, poll, run_tag)
            if args.target in ("gateway", "both"):
                try:
                    target = _gateway_target(args, workdir, responder.port, dns_port, started)
                    print(f"gateway at {target.directory_url}", flush=True)
                    results["gateway"] = await run_target(target, responder, args.levels, args.orders,
                                                          args.time_cap, poll, run_tag, args.stall_seconds)
                except (AcmeError, aiohttp.ClientError, RuntimeError, OSError, KeyError, ValueError) as exc:
                    failed = True
                    print(f"gateway: not measured: {type(exc).__name__}: {str(exc)[:600]}", flush=True)
        finally:
            for process in reversed(started):
                process.stop()
            await responder.stop()
    if "pebble" in results and "gateway" in results:
        print_ratios(results)
    if args.json:
        print(json.dumps(summary(results)))
    errors = sum(sum(r.errors.values()) for levels in results.values() for r in levels)
    return 1 if failed or errors or not results else 0


async def run_pebble(args: argparse.Namespace, workdir: Path, responder: Http01Responder, dns_port: int,
                     started: list, poll: PollPolicy, run_tag: str) -> list[LevelResult]:
    """Each level against a fresh Pebble; a level that wedged Pebble is run again on a new one (bounded).

    Fresh per level because Pebble's store scans every authorization on each newOrder (O(N) under its global
    lock), so a level would otherwise pay for the orders of the levels before it; and because of the deadlock
    `_watch` describes, which a new process clears.
    """
    results: list[LevelResult] = []
    for level, count in zip(args.levels, args.orders):
        for attempt in range(1, args.pebble_attempts + 1):
            pebble_dir = workdir / f"pebble-c{level}-{attempt}"
            pebble_dir.mkdir()
            pebble = acme_procs.start_pebble(pebble_dir, responder.port, dns_port)
            started.append(pebble.process)
            try:
                print(f"Pebble pid {pebble.process.pid} at {pebble.directory_url} (fresh for c={level}, "
                      f"attempt {attempt})", flush=True)
                target = Target("pebble", pebble.directory_url,
                                ssl.create_default_context(cafile=str(pebble.ca_bundle)), pebble.process.pid)
                [result] = await run_target(target, responder, [level], [count], args.time_cap, poll,
                                            f"{run_tag}a{attempt}", args.stall_seconds)
            finally:
                pebble.process.stop()
                started.remove(pebble.process)
            if not result.stalled:
                break
            print(f"  pebble wedged at c={level} (see _watch); "
                  + ("retrying on a fresh Pebble" if attempt < args.pebble_attempts else "giving up"), flush=True)
        results.append(result)
        if result.ok == 0:
            break
    return results


def _gateway_target(args: argparse.Namespace, workdir: Path, http01_port: int, dns_port: int,
                    started: list) -> Target:
    if args.gateway_directory:
        context = ssl.create_default_context(cafile=args.gateway_ca_bundle) if args.gateway_ca_bundle else True
        return Target("gateway", args.gateway_directory, context, None, args.gateway_eab_kid,
                      args.gateway_eab_hmac_key)
    gateway = acme_procs.start_gateway(workdir / "gateway", http01_port, dns_port)
    started.append(gateway)
    print(f"started serve --demo (SQLite) pid {gateway.proc.pid}", flush=True)
    demo = gateway.demo
    directory, eab_kid, eab_key = acme_procs.gateway_acme(demo)
    if not directory:
        raise RuntimeError("demo.json has no acme_directory (the gateway's ACME server is not there yet)")
    return Target("gateway", directory, ssl.create_default_context(cafile=demo["ca_bundle"]), gateway.proc.pid,
                  args.gateway_eab_kid or eab_kid, args.gateway_eab_hmac_key or eab_key)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
