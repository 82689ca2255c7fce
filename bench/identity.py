"""Identity benchmark: how long issuing and validating a token take through the HTTP API.

    python bench/identity.py [--count 200] [--concurrency 4]

Starts the API (waitress, the whole app, `[api] auth_strategy = keystone`) on SQLite in a
temporary directory, bootstraps the identity, then times `POST /identity/v3/auth/tokens` with a
password (argon2id makes this deliberately slow), `GET /identity/v3/auth/tokens` (validation),
and `GET /compute/v2.1/flavors` with the token (validation as every request pays it). Prints a
table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.boot import Client, percentile  # noqa: E402
from ncloud.cli.cloud.session import password_session  # noqa: E402
from tests.cloud import ADMIN_PASSWORD, identity_api  # noqa: E402

AUTH = {"auth": {"identity": {"methods": ["password"], "password": {
    "user": {"name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}


def admin_token(url: str) -> str:
    """A token of the bootstrapped admin (tests/cloud.py's identity_state)."""
    return password_session(f"{url}/identity/v3", "admin", ADMIN_PASSWORD, "admin").token


def timed(client: Client, count: int, concurrency: int, call) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_):
        started = time.perf_counter()
        call()
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="requests of each kind (default 200)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    args = parser.parse_args()
    with identity_api(Path(tempfile.mkdtemp(prefix="ncloud-bench-identity-"))) as url:
        issuer = Client(url, "")
        status, _ = issuer.request("POST", "/identity/v3/auth/tokens", AUTH)
        assert status == 201, status
        token = admin_token(url)
        validator = Client(url, token)
        validator.headers += f"X-Subject-Token: {token}\r\n"
        results = {
            "issue": timed(issuer, args.count, args.concurrency,
                           lambda: issuer.request("POST", "/identity/v3/auth/tokens", AUTH)),
            "validate": timed(validator, args.count * 5, args.concurrency,
                              lambda: validator.request("GET", "/identity/v3/auth/tokens?nocatalog")),
            "flavors": timed(validator, args.count * 5, args.concurrency,
                             lambda: validator.request("GET", "/compute/v2.1/flavors")),
        }
    summary = {f"{name}_{pct}_ms": round(percentile(values, pct), 1)
               for name, values in results.items() for pct in (50, 99)}
    print(f"ncloud identity benchmark: {args.count} token issues, concurrency {args.concurrency}, SQLite")
    for name, label in (("issue", "POST /auth/tokens (password)"), ("validate", "GET /auth/tokens (validate)"),
                        ("flavors", "GET /compute/v2.1/flavors with the token")):
        print(f"  {label:<45} p50 {summary[f'{name}_50_ms']:>6} ms   p99 {summary[f'{name}_99_ms']:>6} ms")
    print(json.dumps({"count": args.count, "concurrency": args.concurrency, **summary}))


if __name__ == "__main__":
    main()
