"""`python manage.py simulate --minutes M --rate R [--url URL] [--workspace ptd] [--seed S]`

Sends realistic signed webhook traffic (ptd.simulator) to a server running on this machine, so the dashboards
move: new leads (HubSpot + AnyTrack), setter calls (CallGear), deal stage changes (HubSpot), payments and refunds
(Stripe). R business events a minute (default 30) for M minutes (default 5, fractions allowed): it stops after
M minutes or M × R business events, whichever comes first, or on Ctrl-C, and prints a line a minute and a summary.

Only loopback servers (127.0.0.0/8, localhost, ::1) are accepted. The secrets are the workspace's own
(environment for the default workspace, else Settings → Integrations), read as the server reads them; a source
without its secret is skipped. The database is only read: setters, coaches and ads, so the traffic names real
staff and ads (and phone numbers already taken, so no call reaches the wrong contact).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ptd.simulator import KIND_LABELS, SOURCE_SECRETS, AdRef, Simulator, StaffRef, loopback_base_url

MAX_MINUTES = 24 * 60
TIMEOUT = (3.05, 15)  # connect, read (seconds)


def simulation_context(workspace) -> dict:
    """Read-only: the workspace's setters and coaches (with HubSpot owner ids), its ads and the phone numbers in
    the simulator's block that contacts already have."""
    from clients.models import Contact, Staff, StaffKind
    from marketing.models import Ad, MetaStatus

    staff = (Staff.objects.filter(workspace=workspace, is_active=True, hubspot_owner_id__isnull=False)
             .exclude(hubspot_owner_id="").order_by("hubspot_owner_id"))

    def refs(kind):
        return [StaffRef(owner_id=o, name=n, email=e) for o, n, e in
                staff.filter(kind=kind).values_list("hubspot_owner_id", "name", "email")]

    ads = Ad.objects.filter(workspace=workspace).order_by("meta_id")
    if ads.filter(status=MetaStatus.ACTIVE).exists():
        ads = ads.filter(status=MetaStatus.ACTIVE)
    return {
        "setters": refs(StaffKind.SETTER),
        "coaches": refs(StaffKind.COACH),
        "ads": [AdRef(ad_id=a, adset_id=s or "", campaign_id=c or "") for a, s, c in
                ads.values_list("meta_id", "adset__meta_id", "campaign__meta_id")[:500]],
        "taken_phones": set(Contact.objects.filter(workspace=workspace, phone_e164__regex=r"^\+9715[0-9]0")
                            .values_list("phone_e164", flat=True)),
    }


@dataclass
class Tally:
    events: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    def line(self) -> str:
        return (f"{self.events} business events · sent {self.sent} · accepted {self.accepted} "
                f"({self.duplicates} duplicate{'' if self.duplicates == 1 else 's'}) · rejected {self.rejected}")


class NoServer(Exception):
    pass


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Command(BaseCommand):
    help = ("Send realistic signed webhook traffic (new leads, calls, deal stage changes, payments, refunds) to a "
            "server on this machine so the dashboards move; loopback only, bounded, stops by itself.")

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=5.0,
                            help="how long to run, fractions allowed (default 5)")
        parser.add_argument("--rate", type=float, default=30.0, help="business events per minute (default 30)")
        parser.add_argument("--url", default=None,
                            help="the server's base URL, loopback only (default http://127.0.0.1:$PORT, PORT 8000)")
        parser.add_argument("--workspace", default=settings.DEFAULT_WORKSPACE_SLUG,
                            help=f"workspace slug (default {settings.DEFAULT_WORKSPACE_SLUG})")
        parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")

    def handle(self, *args, minutes, rate, url, workspace, seed, **options):
        url = url or f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}"
        try:
            base_url = loopback_base_url(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
            raise CommandError(f"--minutes must be more than 0 and at most {MAX_MINUTES}")
        if not (math.isfinite(rate) and rate > 0):
            raise CommandError("--rate must be more than 0 (business events per minute)")

        from ptd.commands import workspace_arg
        from ptd.credentials import credential_get

        ws = workspace_arg(workspace)
        secrets = {name: credential_get(workspace=ws, kind=name) for name in SOURCE_SECRETS.values()}
        where = ("in the environment or in Settings → Integrations" if ws.slug == settings.DEFAULT_WORKSPACE_SLUG
                 else f"in Settings → Integrations of workspace {ws.slug}")
        missing = [(source, name) for source, name in SOURCE_SECRETS.items() if not secrets[name]]
        if len(missing) == len(SOURCE_SECRETS):
            raise CommandError(f"nothing to send: set {', '.join(SOURCE_SECRETS.values())} {where} "
                               "(the same values the server uses)")
        context = simulation_context(ws)
        if not connection.in_atomic_block:
            connection.close()  # the run sends for minutes; hold no idle database connection meanwhile
        session = requests.Session()
        self._preflight(session, base_url)
        for source, name in missing:
            self.stderr.write(f"skipping {source}: set {name} {where} to include it")

        start = time.time()
        seed = int(start) % 100_000 if seed is None else seed
        short = ws.slug == settings.DEFAULT_WORKSPACE_SLUG
        simulator = Simulator(secrets=secrets, base_url=base_url, seed=seed, rate=rate, start=start,
                              workspace_slug=None if short else ws.slug, **context)
        limit = max(1, math.floor(minutes * rate + 1e-9))
        self.stdout.write(
            f"simulating up to {limit:,} business events over {minutes:g} min ({rate:g}/min) → {base_url}, "
            f"workspace {ws.slug}, seed {seed}; sources: {', '.join(simulator.enabled)}; "
            f"{len(context['setters'])} setters, {len(context['coaches'])} coaches, {len(context['ads'])} ads. "
            "Ctrl-C stops.")
        self._run(simulator, session=session, base_url=base_url, start=start, deadline=start + minutes * 60,
                  limit=limit)

    def _preflight(self, session: requests.Session, base_url: str) -> None:
        """Is a server listening, and is its worker running (else nothing gets processed)?"""
        try:
            response = session.get(base_url + "/healthz", timeout=TIMEOUT, allow_redirects=False)
        except requests.ConnectionError:
            session.close()
            raise CommandError(f"no server at {base_url} — start it with make run") from None
        except requests.Timeout:
            return  # something listens; the deliveries will tell
        try:
            worker = response.json()["checks"]["worker"]
        except (ValueError, KeyError, TypeError):
            return
        if not worker.get("ok"):
            self.stderr.write(f"warning: the server says {worker.get('detail') or 'its worker is not running'}: "
                              "deliveries are stored but not processed until it runs")

    # --- the run ---

    def _run(self, simulator: Simulator, *, session: requests.Session, base_url: str, start: float,
             deadline: float, limit: int) -> None:
        total, minute, kinds, by_source = Tally(), Tally(), Counter(), Counter()
        self._reasons: set[tuple[str, int]] = set()
        next_report, minute_no = start + 60, 1
        stopped = ""
        try:
            for event in simulator.events(limit):
                due = start + event.at
                if due >= deadline:
                    break
                while True:  # wait for the event's time, printing each minute's line as it ends
                    now = time.time()
                    if now >= next_report:
                        self.stdout.write(f"minute {minute_no}: {minute.line()}")
                        minute, next_report, minute_no = Tally(), next_report + 60, minute_no + 1
                        continue
                    if now >= due:
                        break
                    time.sleep(min(due, next_report) - now)
                if time.time() >= deadline:
                    break
                for message in event.messages:
                    delivery = simulator.sign(message, now=time.time())
                    outcome = self._send(session, base_url, delivery)
                    for tally in (total, minute):
                        tally.sent += 1
                        tally.accepted += outcome in ("accepted", "duplicate")
                        tally.duplicates += outcome == "duplicate"
                        tally.rejected += outcome == "rejected"
                    by_source[delivery.source] += 1
                total.events += 1
                minute.events += 1
                kinds[event.kind] += 1
        except KeyboardInterrupt:
            stopped = "stopped by Ctrl-C"
        except NoServer:
            if not total.sent:
                raise CommandError(f"no server at {base_url} — start it with make run") from None
            stopped = f"the server at {base_url} went away"
        finally:
            session.close()
        if minute_no > 1 and minute.sent:
            self.stdout.write(f"minute {minute_no} (part): {minute.line()}")
        elapsed = time.time() - start
        happened = ", ".join(f"{kinds[k]} {one if kinds[k] == 1 else many}"
                             for k, (one, many) in KIND_LABELS.items() if kinds[k]) or "nothing"
        sources = ", ".join(f"{s} {n}" for s, n in sorted(by_source.items()))
        self.stdout.write(f"{stopped or 'done'} after {_duration(elapsed)}: {total.events} business events — {happened}")
        self.stdout.write(f"total: {total.line()}" + (f" · by source: {sources}" if sources else ""))
        if stopped.startswith("the server"):
            raise CommandError(f"no server at {base_url} — start it with make run")
        if total.sent and not total.accepted:
            raise CommandError("the server rejected every delivery (reasons above)")

    def _send(self, session: requests.Session, base_url: str, delivery) -> str:
        """POST one delivery: "accepted", "duplicate" or "rejected" (the first reason per source and status is
        printed). Raises NoServer when nothing listens."""
        try:
            response = session.post(base_url + delivery.path, data=delivery.body, headers=delivery.headers,
                                    timeout=TIMEOUT, allow_redirects=False)
        except requests.ConnectionError as exc:
            raise NoServer(str(exc)) from exc
        except requests.Timeout:
            self._reason(delivery.source, 0, f"no answer within {TIMEOUT[1]} s")
            return "rejected"
        if 200 <= response.status_code < 300:
            try:
                duplicate = bool(response.json().get("duplicate"))
            except (ValueError, AttributeError):
                duplicate = False
            return "duplicate" if duplicate else "accepted"
        try:
            reason = str(response.json().get("error") or "")
        except (ValueError, AttributeError):
            reason = ""
        self._reason(delivery.source, response.status_code, reason or response.reason or "")
        return "rejected"

    def _reason(self, source: str, status: int, reason: str) -> None:
        if (source, status) in self._reasons:
            return
        self._reasons.add((source, status))
        name = SOURCE_SECRETS[source]
        if 300 <= status < 400:
            hint = "the server redirects (SECURE_SSL_REDIRECT): run it with DEBUG=true or use its https URL"
        elif status == 404 and source in ("anytrack", "callgear"):
            hint = f"the server's {name} is not this one's"
        elif status == 404:
            hint = "is this workspace on that server?"
        elif status == 400 and ("signature" in reason or "secret" in reason):
            hint = f"is the server's {name} the same as this one's?"
        else:
            hint = ""
        what = f"{status} " if status else ""
        self.stderr.write(f"{source} rejected: {what}{' '.join(reason.split())[:200]}" + (f" — {hint}" if hint else ""))
