"""The services table: registration is safe when several processes of one host start at once."""

import threading

from sqlalchemy import func, select

from ncloud.daemons.core import servicegroup
from ncloud.daemons.core.db.models import Service


def test_processes_registering_the_same_service_at_once_share_one_row(db):
    hosts = [f"h{n}" for n in range(15)]
    results: dict[str, list] = {host: [] for host in hosts}
    errors = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        for host in hosts:
            try:
                results[host].append(servicegroup.register(db, host, "ncloud-api", None))
            except Exception as error:  # the race this test is about surfaced as an IntegrityError
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len(set(found)) == 1 and len(found) == 4 for found in results.values())
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Service)) == len(hosts)
