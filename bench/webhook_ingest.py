"""Webhook ingestion under load, over loopback: signed Stripe and HubSpot webhooks (10 % duplicates) sent to
one server process, then counted in the database once the worker has processed them.

    .venv/bin/python bench/webhook_ingest.py [--events 5000] [--concurrency 16] [--url http://127.0.0.1:8000]

Without --url it starts its own server (uvicorn, one process, as bin/serve does) and worker on a temporary embedded
PostgreSQL (or DATABASE_URL), with throwaway secrets, and stops them at the end. With --url it targets a
running server on 127.0.0.1 whose STRIPE_WEBHOOK_SECRET / HUBSPOT_CLIENT_SECRET are in this environment.
Prints accepted/s, latency p50/p99, stored, processed, duplicates collapsed and lost. Target (issue 3):
≥ 500 accepted/s with one server process on the 2-core machine, lost = 0.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRIPE_SECRET = "whsec_bench_secret"
HUBSPOT_SECRET = "bench-hubspot-client-secret"


def stripe_request(i: int, secret: str) -> tuple[str, bytes, dict]:
    event = {"id": f"evt_bench_{i}", "object": "event", "type": "charge.succeeded", "created": int(time.time()),
             "livemode": False, "api_version": "2026-10-28.endive",
             "data": {"object": {"id": f"ch_bench_{i}", "object": "charge", "amount": random.choice([27500, 660000]),
                                 "currency": "aed", "status": "succeeded", "paid": True, "created": int(time.time()),
                                 "billing_details": {"email": f"bench{i % 500}@example.com"},
                                 "payment_intent": f"pi_bench_{i}", "refunded": False, "amount_refunded": 0}}}
    body = json.dumps(event).encode()
    t = int(time.time())
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return "/webhooks/stripe/", body, {"Stripe-Signature": f"t={t},v1={sig}"}


def hubspot_request(i: int, secret: str, base_url: str) -> tuple[str, bytes, dict]:
    notification = {"eventId": i, "subscriptionId": 1, "portalId": 62515, "appId": 1,
                    "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation",
                    "attemptNumber": 0, "objectId": 900000 + i, "changeSource": "CRM"}
    body = json.dumps([notification]).encode()
    ts = str(int(time.time() * 1000))
    uri = base_url + "/webhooks/hubspot/"
    sig = base64.b64encode(hmac.new(secret.encode(), ("POST" + uri + body.decode() + ts).encode(),
                                    hashlib.sha256).digest()).decode()
    return "/webhooks/hubspot/", body, {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": ts}


def build_requests(n: int, base_url: str, stripe_secret: str, hubspot_secret: str):
    """n deliveries: 90 % distinct events, 10 % re-deliveries of earlier ones (as providers do)."""
    rng = random.Random(7)
    distinct = []
    for i in range(int(n * 0.9)):
        distinct.append(stripe_request(i, stripe_secret) if i % 2 == 0 else hubspot_request(i, hubspot_secret, base_url))
    deliveries = distinct + [rng.choice(distinct) for _ in range(n - len(distinct))]
    rng.shuffle(deliveries)
    return deliveries, len(distinct)


def fire(base_url: str, deliveries, concurrency: int):
    parsed = urllib.parse.urlparse(base_url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("refusing to load anything but a loopback address")
    latencies, statuses = [], []
    lock = threading.Lock()
    cursor = iter(deliveries)

    def worker():
        conn = HTTPConnection(parsed.hostname, parsed.port or 80, timeout=30)
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                break
            path, body, headers = item
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                conn.close()
                conn = HTTPConnection(parsed.hostname, parsed.port or 80, timeout=30)
                status = 0
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses.append(status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, statuses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_events(env) -> dict:
    code = ("from ptd.models import WebhookEvent as W; from django.db.models import Count; import json; "
            "print(json.dumps(dict(W.objects.values_list('status').annotate(Count('id')).order_by())))")
    out = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"counting events failed: {out.stderr.strip().splitlines()[-1:]}")
    out = out.stdout.strip().splitlines()[-1]
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--url", help="a running server on 127.0.0.1 (default: start one)")
    parser.add_argument("--drain-seconds", type=int, default=300, help="how long to wait for the worker")
    parser.add_argument("--defer-worker", action="store_true",
                        help="start the worker only after the burst (measures the receiver alone, then the drain)")
    args = parser.parse_args()

    env = dict(os.environ)
    processes, data_dir = [], None
    if args.url:
        base_url = args.url.rstrip("/")
        stripe_secret, hubspot_secret = env.get("STRIPE_WEBHOOK_SECRET", ""), env.get("HUBSPOT_CLIENT_SECRET", "")
        if not stripe_secret or not hubspot_secret:
            raise SystemExit("with --url, set STRIPE_WEBHOOK_SECRET and HUBSPOT_CLIENT_SECRET to the server's secrets")
    else:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        stripe_secret, hubspot_secret = STRIPE_SECRET, HUBSPOT_SECRET
        env.update(STRIPE_WEBHOOK_SECRET=stripe_secret, HUBSPOT_CLIENT_SECRET=hubspot_secret, DEBUG="false",
                   SECURE_SSL_REDIRECT="false", ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING",
                   SECRET_KEY="bench-" + "x" * 50)
        if not env.get("DATABASE_URL"):
            data_dir = tempfile.mkdtemp(prefix="ptdwh")
            env["PTD_DATA_DIR"] = data_dir
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        processes.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-access-log", "ptd.asgi:application"], env=env, cwd=ROOT,
                                          stderr=subprocess.DEVNULL))
        worker_log = open(Path(tempfile.gettempdir()) / "ptd-bench-worker.log", "w")

        def start_worker():
            processes.append(subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "worker"], env=env, cwd=ROOT,
                                              stdout=worker_log, stderr=subprocess.STDOUT))

        if not args.defer_worker:
            start_worker()
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
    try:
        before = sum(count_events(env).values())
        deliveries, distinct = build_requests(args.events, base_url, stripe_secret, hubspot_secret)
        elapsed, latencies, statuses = fire(base_url, deliveries, args.concurrency)
        ok = sum(1 for s in statuses if s == 200)
        if args.defer_worker and not args.url:
            start_worker()
        deadline = time.monotonic() + args.drain_seconds
        while True:
            counts = count_events(env)
            pending = counts.get("pending", 0) + counts.get("failed", 0)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(2)
        drained = time.monotonic() - (deadline - args.drain_seconds)
        stored = sum(counts.values()) - before
        latencies.sort()
        print(f"deliveries {len(deliveries):,} ({distinct:,} distinct, {len(deliveries) - distinct:,} re-deliveries), "
              f"concurrency {args.concurrency}")
        print(f"accepted/s {ok / elapsed:,.0f}  (accepted {ok:,} of {len(deliveries):,} in {elapsed:.1f} s; "
              f"non-2xx {len(deliveries) - ok})")
        print(f"latency p50 {statistics.median(latencies) * 1000:.1f} ms  "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
        print(f"stored {stored:,}  processed {counts.get('processed', 0) + counts.get('ignored', 0):,} "
              f"(statuses {counts})  duplicates collapsed {len(deliveries) - stored:,}  "
              f"lost {distinct - stored:,}  worker drained in {drained:.0f} s")
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if data_dir:
            subprocess.run([sys.executable, str(ROOT / "manage.py"), "embedded_db", "stop"], env=env, cwd=ROOT,
                           capture_output=True)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
