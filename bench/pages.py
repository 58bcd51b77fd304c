"""p50 / p95 of every dashboard page and each of its partials, over HTTP against a running server.

    make run            # or: DATABASE_URL=… DEBUG=true bash bin/serve, on the 100,000-client demo
    .venv/bin/python bench/pages.py --password <demo password> [--base http://127.0.0.1:8000] [--n 20]

Signs in as each user (default: the demo admin and coach), finds the partials of each page from its
`hx-get="…partial=…"` attributes, and requests each page and partial --n times after one warm-up. Targets
(issue 5): page p95 < 300 ms, partial p95 < 150 ms. docs/performance.md records what we saw.
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import sys
import time

import requests

PAGES = ["/", "/overview/", "/clients/", "/clients/{client}/", "/interventions/", "/coaches/", "/coaches/{coach}/",
         "/sales-pipeline/", "/setter-activity-today/", "/sales-coach-tracker/", "/marketing-intelligence/",
         "/money-map/", "/meta-dashboard/", "/attribution/", "/deep-intel/", "/stripe/"]
PARTIAL = re.compile(r'hx-get="([^"]*(?:[?&]|&amp;)partial=[^"&]+[^"]*)"')  # HTML-escaped after ?period=…
CLIENT_LINK = re.compile(r'href="/clients/(\d+)/"')
COACH_LINK = re.compile(r'href="/coaches/(\d+)/"')
PAGE_TARGET_MS, PARTIAL_TARGET_MS = 300, 150


def sign_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    login = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    done = session.post(f"{base}/accounts/login/", data={"username": username, "password": password,
                                                         "csrfmiddlewaretoken": token},
                        headers={"Referer": f"{base}/accounts/login/"}, timeout=30)
    if "/accounts/login/" in done.url:
        sys.exit(f"could not sign in as {username}: check --password")
    return session


def timed(session: requests.Session, url: str, n: int, headers=None) -> tuple[list[float], int, str]:
    first = session.get(url, headers=headers, timeout=60)  # warm-up (and the body to look for partials)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        session.get(url, headers=headers, timeout=60)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, first.status_code, first.text


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--users", default="admin,coach", help="comma-separated usernames")
    parser.add_argument("--password", required=True)
    parser.add_argument("--n", type=int, default=20, help="timed requests per URL (after one warm-up)")
    parser.add_argument("--period", default="", help="e.g. last_30_days (default: each page's own default)")
    parser.add_argument("--pages", default="", help="comma-separated parts of page paths to keep (default: all)")
    args = parser.parse_args()
    base = args.base.rstrip("/")

    print(f"{'user':<7} {'url':<58} {'status':>6} {'p50 ms':>8} {'p95 ms':>8}  target")
    misses = 0
    for username in args.users.split(","):
        session = sign_in(base, username, args.password)
        ids = {}
        for name, listing, pattern in (("client", "/clients/", CLIENT_LINK), ("coach", "/coaches/", COACH_LINK)):
            match = pattern.search(session.get(f"{base}{listing}", timeout=60).text)
            ids[name] = match.group(1) if match else None
        kept = [t for t in PAGES if not args.pages or any(part in t for part in args.pages.split(","))]
        for template in kept:
            if "{" in template and None in [ids.get(k) for k in re.findall(r"{(\w+)}", template)]:
                print(f"{username:<7} {template:<58} {'—':>6}  (no row to open)")
                continue
            path = template.format(**ids)
            url = f"{base}{path}" + (f"?period={args.period}" if args.period else "")
            samples, status, body = timed(session, url, args.n)
            misses += _report(username, path, status, samples, PAGE_TARGET_MS)
            for partial in sorted(set(html.unescape(p) for p in PARTIAL.findall(body))):
                partial_url = partial if partial.startswith("http") else f"{base}{partial}"
                samples, status, _ = timed(session, partial_url, args.n, headers={"HX-Request": "true"})
                misses += _report(username, "  " + partial.split("?", 1)[0] + "?" + partial.split("?", 1)[1][:48],
                                  status, samples, PARTIAL_TARGET_MS)
    print(f"\n{misses} URL(s) over target" if misses else "\nevery URL within target")
    return 0


def _report(user: str, label: str, status: int, samples: list[float], target: int) -> int:
    miss = p95(samples) >= target
    print(f"{user:<7} {label:<58} {status:>6} {statistics.median(samples):>8.1f} {p95(samples):>8.1f}  "
          f"{'OVER ' if miss else ''}< {target}")
    return int(miss)


if __name__ == "__main__":
    sys.exit(main())
