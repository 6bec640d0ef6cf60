"""The asyncio load client: middleware posting exceptions, sync runs, heartbeats and
business events by token while finance users list, filter and resolve exceptions.

Every write carries a business key the run chose (idempotency key, run id, event id), and
some are deliberately sent twice. The ``Ledger`` records what the server acknowledged so
``tests.load.reconcile`` can check the database against it. A write that fails (5xx or a
broken connection) is retried with the SAME key, as real middleware would; if it never
succeeds its key is "in doubt" (it may or may not have been stored) and reconciliation
allows it to be present at most once.
"""

import asyncio
import datetime as dt
import json
import math
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aiohttp

# Proxied TLS: what the TLS-terminating proxy in front of gunicorn would add.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
EVENT_TYPES = ["closed_won", "project_activated", "time_approved", "milestone_completed", "invoice_ready",
               "invoice_posted", "payment_received", "revenue_posted"]
ERROR_CODES = ["TAX_CODE_MISMATCH", "RATE_CARD_DIFF", "MISSING_PROJECT", "GL_ACCOUNT_CLOSED"]


@dataclass
class Request:
    endpoint: str
    started: float
    ended: float
    status: int  # 0 = no HTTP answer (connection refused/reset, timeout)
    error_code: str = ""  # the "error.code" of a JSON error body
    content_type: str = ""


@dataclass
class Ledger:
    """What the server acknowledged (2xx), per kind of write."""

    run: str
    # exceptions: idempotency key -> (group, exception id the server returned)
    exc_keys: dict = field(default_factory=dict)
    exc_group_of: dict = field(default_factory=dict)  # every key ever sent -> group
    exc_bodies: dict = field(default_factory=dict)  # key -> body, for deliberate re-sends
    exc_in_doubt: set = field(default_factory=set)
    # sync runs: run_id -> (integration slug, stored id)
    runs: dict = field(default_factory=dict)
    run_bodies: dict = field(default_factory=dict)
    runs_in_doubt: set = field(default_factory=set)
    # heartbeats: run ids the server returned; failures that may have been stored
    heartbeats: list = field(default_factory=list)
    heartbeats_in_doubt: int = 0
    # business events: event_id -> how many responses said "created"
    events: dict = field(default_factory=dict)
    event_bodies: dict = field(default_factory=dict)
    events_in_doubt: set = field(default_factory=set)
    # resolves a finance user got 200 for
    resolves: list = field(default_factory=list)
    resolves_in_doubt: int = 0
    # re-sends the server did not recognise as repeats
    dedup_checks: int = 0
    dedup_violations: list = field(default_factory=list)
    resends: Counter = field(default_factory=Counter)


class Stats:
    def __init__(self):
        self.requests: list[Request] = []

    def add(self, request: Request):
        self.requests.append(request)

    def by_endpoint(self):
        groups = defaultdict(list)
        for r in self.requests:
            groups[r.endpoint].append(r)
        return groups


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (ms)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def summarize(stats: Stats, elapsed: float) -> dict:
    rows = {}
    for endpoint, reqs in sorted(stats.by_endpoint().items()):
        lat = sorted((r.ended - r.started) * 1000 for r in reqs)
        rows[endpoint] = {
            "count": len(reqs), "rps": len(reqs) / elapsed if elapsed else 0.0,
            "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99), "max": lat[-1],
            "statuses": dict(sorted(Counter(r.status for r in reqs).items())),
        }
    total = len(stats.requests)
    statuses = Counter(r.status for r in stats.requests)
    ingest = sorted((r.ended - r.started) * 1000 for endpoint, reqs in stats.by_endpoint().items()
                    if endpoint.startswith("POST exceptions/ingest") for r in reqs)
    return {
        "ingest_p95": percentile(ingest, 95) if ingest else None,
        "elapsed": elapsed, "total": total, "rps": total / elapsed if elapsed else 0.0, "endpoints": rows,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "transport_errors": statuses.get(0, 0),
    }


def format_summary(summary: dict) -> str:
    lines = [f"{summary['total']} requests in {summary['elapsed']:.1f} s = {summary['rps']:.1f} req/s; "
             f"statuses {summary['statuses']}",
             f"{'endpoint':34} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses"]
    for name, row in summary["endpoints"].items():
        lines.append(f"{name:34} {row['count']:6d} {row['rps']:7.1f} {row['p50']:8.1f} {row['p95']:8.1f} "
                     f"{row['p99']:8.1f} {row['max']:8.1f}  {row['statuses']}")
    refused = {s: n for s, n in summary["statuses"].items() if 400 <= s < 500}
    lines.append(f"errors: {summary['server_errors']} 5xx, {summary['transport_errors']} without an answer; "
                 f"4xx {refused or 'none'} (409 on a resolve = another user moved it first)")
    return "\n".join(lines)


class LoadClient:
    """Runs the workload for ``duration`` seconds against ``base_url``.

    ``seed`` is what ``tests.load.reconcile.seed`` returned: integrations, heartbeat
    tokens, service-account tokens and finance logins."""

    def __init__(self, base_url: str, seed: dict, *, duration: float, concurrency: int = 1, rng_seed: int | None = None,
                 drain: float = 15.0, request_timeout: float = 30.0, on_start=None):
        self.base = base_url.rstrip("/")
        self.seed = seed
        self.run = seed["run"]
        self.duration = duration
        self.concurrency = concurrency
        self.rng = random.Random(rng_seed)
        self.drain = drain
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.ledger = Ledger(run=self.run)
        self.stats = Stats()
        self.login_stats = Stats()
        self.counter = 0
        self.retry: list = []  # (not_before, coroutine factory) of writes to send again
        self.started = self.deadline = 0.0
        self.stop_new = False
        self.on_start = on_start  # called when the measured phase begins
        self.on_end = None

    # --- plumbing ----------------------------------------------------------------------

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    async def call(self, session, method, path, endpoint, **kwargs):
        """-> (status, parsed JSON body or text or None). Records the request."""
        started = time.monotonic()
        status, body, ctype = 0, None, ""
        timeout = kwargs.pop("timeout", self.timeout)
        # Names the request for the server-side CPU report (tests.load.gunicorn_cpu); the
        # application ignores it.
        kwargs["headers"] = {**kwargs.get("headers", {}), "X-Load-Endpoint": endpoint}
        try:
            async with session.request(method, self.base + path, timeout=timeout, allow_redirects=False,
                                       **kwargs) as response:
                status = response.status
                ctype = response.headers.get("Content-Type", "")
                text = await response.text()
                body = json.loads(text) if ctype.startswith("application/json") and text else text
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            status, body = 0, type(exc).__name__
        code = body if status == 0 else ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code", ""))
        self.stats.add(Request(endpoint, started, time.monotonic(), status, code, ctype))
        return status, body

    def failed(self, status) -> bool:
        """An answer that leaves the write's outcome unknown: no answer, or 5xx."""
        return status == 0 or status >= 500

    async def pause_after_failure(self):
        # Do not spin while the server is down; real middleware backs off too.
        await asyncio.sleep(0.2 + self.rng.random() * 0.2)

    def schedule_retry(self, factory):
        self.retry.append((time.monotonic() + 0.5, factory))

    async def take_retry(self) -> bool:
        """Send one due retry, if any. True if one was sent."""
        now = time.monotonic()
        for index, (not_before, factory) in enumerate(self.retry):
            if not_before <= now:
                del self.retry[index]
                await factory()
                return True
        return False

    def running(self) -> bool:
        return not self.stop_new and time.monotonic() < self.deadline

    # --- middleware: exceptions ------------------------------------------------------------

    def exception_body(self, group: int) -> dict:
        integration = self.seed["integrations"][group % len(self.seed["integrations"])]
        return {
            "integration": integration, "error_code": ERROR_CODES[group % len(ERROR_CODES)],
            "message": f"Invoice {self.run}-INV-{group} could not be posted to ERP",
            "severity": self.rng.choice(["critical", "high", "medium", "low"]),
            "business_keys": {"invoice_number": f"{self.run}-INV-{group}", "client": f"Client {group % 17}"},
            "amount_at_risk": round(self.rng.uniform(100, 50_000), 2), "currency": "GBP",
            "payload": {"invoice": f"{self.run}-INV-{group}", "lines": [{"amount": 100}]},
        }

    def new_exception(self, repeat_of_group: bool) -> tuple[str, dict]:
        """A fresh idempotency key: a new failure, or the same failure (group) happening
        again, which the server counts on the existing exception (or reopens it)."""
        known = list(set(self.ledger.exc_group_of.values()))
        group = self.rng.choice(known) if repeat_of_group and known else self.next_id()
        key = f"{self.run}-k-{self.next_id()}"
        body = self.exception_body(group)
        self.ledger.exc_group_of[key] = group
        self.ledger.exc_bodies[key] = body
        return key, body

    def record_exception_result(self, key, result, resend: bool):
        if resend:
            self.ledger.dedup_checks += 1
            expected = self.ledger.exc_keys[key][1]
            if result.get("outcome") != "idempotent" or result.get("id") != expected:
                self.ledger.dedup_violations.append(f"exception key {key}: re-send answered {result}, expected id {expected}")
            return
        previous = self.ledger.exc_keys.get(key)
        if previous and previous[1] != result.get("id"):
            self.ledger.dedup_violations.append(f"exception key {key}: ids {previous[1]} and {result.get('id')}")
        self.ledger.exc_keys[key] = (self.ledger.exc_group_of[key], result.get("id"))
        self.ledger.exc_in_doubt.discard(key)

    async def post_exception(self, session, key, body, resend=False):
        status, data = await self.call(session, "POST", "/api/v1/exceptions/ingest/", "POST exceptions/ingest (1)",
                                       json=body, headers={"Idempotency-Key": key})
        if status in (200, 201) and isinstance(data, dict):
            self.record_exception_result(key, data, resend)
        elif self.failed(status):
            if not resend:
                self.ledger.exc_in_doubt.add(key)
                self.schedule_retry(lambda: self.post_exception(session, key, body))
            await self.pause_after_failure()

    async def post_exception_batch(self, session, items, resend_keys):
        status, data = await self.call(session, "POST", "/api/v1/exceptions/ingest/", "POST exceptions/ingest (batch)",
                                       json=[{**body, "idempotency_key": key} for key, body in items])
        if status in (200, 201) and isinstance(data, dict):
            first_in_batch = {}
            for (key, _body), result in zip(items, data["results"], strict=True):
                if key in first_in_batch:  # the same key twice in one post: answered as a repeat
                    self.ledger.dedup_checks += 1
                    if result.get("outcome") != "idempotent" or result.get("id") != first_in_batch[key]:
                        self.ledger.dedup_violations.append(f"exception key {key} twice in a batch: {result}")
                    continue
                first_in_batch[key] = result.get("id")
                self.record_exception_result(key, result, key in resend_keys)
        elif self.failed(status):
            fresh = [(k, b) for k, b in items if k not in resend_keys]
            self.ledger.exc_in_doubt.update(k for k, _ in fresh)
            if fresh:
                self.schedule_retry(lambda: self.post_exception_batch(session, list(dict(fresh).items()), set()))
            await self.pause_after_failure()

    def pick_resend_key(self):
        accepted = list(self.ledger.exc_keys)
        return self.rng.choice(accepted) if accepted else None

    async def ingest_worker(self, session):
        while self.running():
            if await self.take_retry():
                continue
            r = self.rng.random()
            key = self.pick_resend_key() if r < 0.15 else None
            if key:  # deliberate duplicate: the exact post again, same key
                self.ledger.resends["exception"] += 1
                await self.post_exception(session, key, self.ledger.exc_bodies[key], resend=True)
            else:
                key, body = self.new_exception(repeat_of_group=r < 0.40)
                await self.post_exception(session, key, body)

    async def batch_worker(self, session):
        while self.running():
            if await self.take_retry():
                continue
            items, resend_keys = [], set()
            for _ in range(10):
                r = self.rng.random()
                key = self.pick_resend_key() if r < 0.1 else None
                if key and key not in resend_keys:
                    resend_keys.add(key)
                    self.ledger.resends["exception"] += 1
                    items.append((key, self.ledger.exc_bodies[key]))
                else:
                    items.append(self.new_exception(repeat_of_group=r < 0.35))
            if self.rng.random() < 0.3:  # the same item twice in one post
                items.append(items[-1])
            await self.post_exception_batch(session, items, resend_keys)

    # --- middleware: sync runs, heartbeats, events -----------------------------------------

    async def post_run(self, session, slug, run_id, body, resend=False):
        status, data = await self.call(session, "POST", f"/api/v1/integrations/{slug}/runs/", "POST integrations/runs",
                                       json=body)
        if status in (200, 201) and isinstance(data, dict):
            if resend:
                self.ledger.dedup_checks += 1
                if status != 200 or data.get("id") != self.ledger.runs[run_id][1]:
                    self.ledger.dedup_violations.append(f"run {run_id}: re-send answered {status} {data}")
            else:
                self.ledger.runs[run_id] = (slug, data.get("id"))
                self.ledger.runs_in_doubt.discard(run_id)
        elif self.failed(status):
            if not resend:
                self.ledger.runs_in_doubt.add(run_id)
                self.schedule_retry(lambda: self.post_run(session, slug, run_id, body))
            await self.pause_after_failure()

    async def runs_worker(self, session):
        while self.running():
            if await self.take_retry():
                continue
            if self.ledger.runs and self.rng.random() < 0.2:
                run_id = self.rng.choice(list(self.ledger.runs))
                self.ledger.resends["run"] += 1
                slug, body = self.ledger.run_bodies[run_id]
                await self.post_run(session, slug, run_id, body, resend=True)
                continue
            slug = self.rng.choice(self.seed["integrations"])
            run_id = f"{self.run}-run-{self.next_id()}"
            failed = self.rng.random() < 0.1
            processed = self.rng.randint(10, 5000)
            now = dt.datetime.now(dt.UTC)
            body = {"run_id": run_id, "status": "failed" if failed else "success",
                    "started_at": (now - dt.timedelta(seconds=30)).isoformat(), "finished_at": now.isoformat(),
                    "records_processed": processed, "records_failed": self.rng.randint(1, 10) if failed else 0,
                    "lag_seconds": self.rng.randint(0, 120)}
            self.ledger.run_bodies[run_id] = (slug, body)
            await self.post_run(session, slug, run_id, body)

    async def heartbeat_worker(self, session):
        while self.running():
            token = self.rng.choice(self.seed["heartbeats"])
            status, data = await self.call(session, "POST", f"/api/v1/heartbeat/{token}/", "POST heartbeat")
            if status == 200 and isinstance(data, dict):
                self.ledger.heartbeats.append(data["run_id"])
            elif self.failed(status):
                # No idempotency key in a bare ping: if lost after commit it counts once more.
                self.ledger.heartbeats_in_doubt += 1
                await self.pause_after_failure()
            await asyncio.sleep(0.05)

    async def post_events(self, session, events, resend_ids):
        status, data = await self.call(session, "POST", "/api/v1/events/", "POST events", json=events)
        if status == 200 and isinstance(data, dict):
            for event, result in zip(events, data["results"], strict=True):
                event_id = event["event_id"]
                if result["status"] == "rejected":
                    self.ledger.dedup_violations.append(f"event {event_id} rejected: {result.get('errors')}")
                    continue
                if event_id in resend_ids:
                    self.ledger.dedup_checks += 1
                    if result["status"] != "duplicate":
                        self.ledger.dedup_violations.append(f"event {event_id}: re-send answered {result}")
                created = 1 if result["status"] == "created" else 0
                self.ledger.events[event_id] = self.ledger.events.get(event_id, 0) + created
                self.ledger.events_in_doubt.discard(event_id)
        elif self.failed(status):
            fresh = [e for e in events if e["event_id"] not in resend_ids]
            self.ledger.events_in_doubt.update(e["event_id"] for e in fresh)
            if fresh:
                self.schedule_retry(lambda: self.post_events(session, fresh, set()))
            await self.pause_after_failure()

    async def events_worker(self, session):
        while self.running():
            if await self.take_retry():
                continue
            events, resend_ids = [], set()
            for _ in range(self.rng.randint(1, 5)):
                if self.ledger.events and self.rng.random() < 0.15:
                    event_id = self.rng.choice(list(self.ledger.events))
                    if event_id in resend_ids or event_id in {e["event_id"] for e in events}:
                        continue
                    resend_ids.add(event_id)
                    self.ledger.resends["event"] += 1
                    events.append(self.ledger.event_bodies[event_id])
                    continue
                n = self.next_id()
                event = {
                    "event_id": f"{self.run}-ev-{n}", "type": self.rng.choice(EVENT_TYPES),
                    "correlation_key": f"{self.run}-INV-{n % 50}",
                    "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                    "integration": self.rng.choice(self.seed["integrations"]),
                    "amount": f"{self.rng.uniform(10, 9999):.2f}", "currency": "GBP",
                }
                self.ledger.event_bodies[event["event_id"]] = event
                events.append(event)
            if events:
                await self.post_events(session, events, resend_ids)

    # --- finance users -----------------------------------------------------------------------

    async def login(self, session, username, password) -> bool:
        status, html = await self.call(session, "GET", "/login/", "GET login page")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html or "") if status == 200 else None
        if not match:
            return False
        status, _ = await self.call(session, "POST", "/login/", "POST login",
                                    data={"username": username, "password": password,
                                          "csrfmiddlewaretoken": match.group(1)})
        return status == 302

    def csrf(self, session) -> str:
        for cookie in session.cookie_jar:
            if cookie.key == "csrftoken":
                return cookie.value
        return ""

    async def sign_in(self, session, username, password, attempts=20):
        for _ in range(attempts):
            if await self.login(session, username, password):
                return
            await self.pause_after_failure()
        raise RuntimeError(f"{username} could not sign in")

    async def finance_worker(self, session):
        turn = 0
        while self.running():
            turn += 1
            slug = self.rng.choice(self.seed["integrations"])
            if turn % 3 == 1:  # the HTML list first, then every third turn
                status, _ = await self.call(session, "GET", f"/exceptions/list/?integration={slug}&status=open",
                                            "GET exceptions list page")
                if self.failed(status):
                    await self.pause_after_failure()
                continue
            if turn % 5 == 2 and self.ledger.exc_keys:
                group = self.rng.choice(list(self.ledger.exc_keys.values()))[0]
                query = f"q={self.run}-INV-{group}"
            else:
                query = f"integration={slug}&status=open&page_size=20"
            status, data = await self.call(session, "GET", f"/api/v1/exceptions/items/?{query}", "GET api exceptions (filtered)")
            if self.failed(status) or not isinstance(data, dict):
                await self.pause_after_failure()
                continue
            open_items = [i for i in data.get("results", []) if i["status"] in ("new", "acknowledged", "reopened")]
            for item in self.rng.sample(open_items, min(len(open_items), 2)):
                status, _ = await self.call(
                    session, "POST", f"/api/v1/exceptions/items/{item['id']}/resolve/", "POST api exceptions/resolve",
                    json={"resolution_code": "fixed_at_source", "note": "load test", "expected_status": item["status"]},
                    headers={"X-CSRFToken": self.csrf(session)},
                )
                if status == 200:
                    self.ledger.resolves.append(item["id"])
                elif self.failed(status):
                    self.ledger.resolves_in_doubt += 1  # not retried: a person would look again
                    await self.pause_after_failure()

    # --- the run ----------------------------------------------------------------------------

    async def drain_retries(self):
        """After the run: send the writes that failed until they are acknowledged."""
        self.stop_new = True
        end = time.monotonic() + self.drain
        while self.retry and time.monotonic() < end:
            if not await self.take_retry():
                await asyncio.sleep(0.1)

    async def run_async(self, during=None):
        """``during``: an optional coroutine run alongside the load (the chaos timeline)."""
        base_headers = dict(PROXY_HEADERS)
        referer = {"Referer": self.base.replace("http://", "https://", 1) + "/"}
        # Drop idle connections before gunicorn does (its keep-alive is 2 s): otherwise a
        # request can go out on a connection the server is closing at that moment.
        connector_kwargs = {"limit": 0, "keepalive_timeout": 1.0}
        sessions = []

        def token_session(token):
            s = aiohttp.ClientSession(headers={**base_headers, "Authorization": f"Bearer {token}"},
                                      connector=aiohttp.TCPConnector(**connector_kwargs))
            sessions.append(s)
            return s

        def browser_session():
            jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[self.base])
            s = aiohttp.ClientSession(headers={**base_headers, **referer}, cookie_jar=jar,
                                      connector=aiohttp.TCPConnector(**connector_kwargs))
            sessions.append(s)
            return s

        try:
            return await self._run(token_session, browser_session, during)
        finally:
            for s in sessions:
                await s.close()

    async def _run(self, token_session, browser_session, during):
        tokens = self.seed["tokens"]
        c = self.concurrency
        # Sign the finance users in before the clock starts: a login is one PBKDF2 hash
        # (deliberately slow) and not the traffic being measured. The first request of each
        # gunicorn worker (lazy URL and template loading) falls in this phase too.
        browsers = [(browser_session(), u, p) for u, p in self.seed["finance"][: max(1, 2 * c)]]
        await asyncio.gather(*(self.sign_in(b, u, p) for b, u, p in browsers))
        self.login_stats, self.stats = self.stats, Stats()
        if self.on_start:
            self.on_start()
        self.started = time.monotonic()
        self.deadline = self.started + self.duration
        tasks = []
        # Idempotency keys belong to the account that sent them, and the workers re-send one
        # another's keys from the shared ledger: every exception writer speaks as one account.
        for _ in range(2 * c):
            tasks.append(self.ingest_worker(token_session(tokens[0])))
        for i in range(c):
            tasks.append(self.batch_worker(token_session(tokens[0])))
            tasks.append(self.runs_worker(token_session(tokens[(i + 1) % len(tokens)])))
            tasks.append(self.events_worker(token_session(tokens[i % len(tokens)])))
            tasks.append(self.heartbeat_worker(token_session(tokens[0])))
        for browser, _u, _p in browsers:
            tasks.append(self.finance_worker(browser))
        await asyncio.gather(*tasks, *([during] if during is not None else []))
        elapsed = time.monotonic() - self.started
        if self.on_end:
            self.on_end()
        await self.drain_retries()
        return elapsed

    async def burst_async(self, n: int, *, window: float = 1.0, align_minute: bool = True, connections: int = 256,
                          give_up_after: float = 300.0) -> dict:
        """Cron's minute boundary: ``n`` heartbeat pings started within ``window`` seconds
        from the next wall-clock :00 (at once when ``align_minute`` is off), over at most
        ``connections`` sockets at a time (gunicorn's listen backlog; beyond them they wait in
        the client, as they would in the kernel's accept queue). A ping that gets no answer or a 5xx is sent
        again, as a cron wrapper's ``--retry`` would, until ``give_up_after``; each such
        one is "in doubt" for the reconciliation (it may have been stored before the answer
        was lost). Returns what happened; the ledger gets every acknowledged ping."""
        if align_minute:
            await asyncio.sleep(60 - time.time() % 60)
        tokens = self.seed["heartbeats"]
        session = aiohttp.ClientSession(headers=dict(PROXY_HEADERS), connector=aiohttp.TCPConnector(
            limit=connections, keepalive_timeout=1.0))
        # A queued ping waits for its answer rather than timing out and being sent again
        # (each re-send is one more request for a server that is already behind).
        patient = aiohttp.ClientTimeout(total=give_up_after)
        started = time.monotonic()
        deadline = started + give_up_after
        retried = Counter()

        async def ping(i):
            await asyncio.sleep(i * window / n)
            token = tokens[i % len(tokens)]
            while time.monotonic() < deadline:
                status, data = await self.call(session, "POST", f"/api/v1/heartbeat/{token}?rid={uuid.uuid4()}",
                                               "POST heartbeat (burst)", timeout=patient)
                if status == 200 and isinstance(data, dict):
                    self.ledger.heartbeats.append(data["run_id"])
                    return time.monotonic() - started
                if not self.failed(status):
                    return None  # a 4xx: refused, nothing stored
                retried[status] += 1
                self.ledger.heartbeats_in_doubt += 1
                await asyncio.sleep(0.5 + self.rng.random())
            return None

        try:
            done = await asyncio.gather(*(ping(i) for i in range(n)))
        finally:
            await session.close()
        acknowledged = sorted(t for t in done if t is not None)
        return {"sent": n, "acknowledged": len(acknowledged), "lost": n - len(acknowledged),
                "absorbed_s": acknowledged[-1] if acknowledged else float("nan"),
                "p50_ms": percentile(acknowledged, 50) * 1000, "p95_ms": percentile(acknowledged, 95) * 1000,
                "retried": dict(retried), "aligned": align_minute}

    def burst_blocking(self, n: int, **kwargs) -> dict:
        from controlplane.aio import run_async

        return run_async(self.burst_async(n, **kwargs))

    def run_blocking(self, during=None) -> float:
        from controlplane.aio import run_async

        # run_async, not asyncio.run: in the suite this may run on a pytest worker whose
        # thread already drives Playwright's event loop.
        return run_async(self.run_async(during))
