"""The failover drill's loop for the Python SDK (azure-cosmos, pinned in requirements.txt).

Started by tests/sdk/lib/failover-drill.mjs, which owns the stack and moves the write region; see
the protocol in that file's header. Two threads share one client: one creates documents, one
reads the seed document "r0" (partition "p0"), each pausing COSMOSEAL_DRILL_INTERVAL_MS between
operations, until COSMOSEAL_DRILL_DURATION_MS has passed. Reads prefer COSMOSEAL_DRILL_PREFERRED.
Every operation is one JSON line on stdout with epoch-millisecond start and end.

  node tests/sdk/lib/failover-drill.mjs --via both -- tests/sdk/python/.venv/bin/python tests/sdk/python/failover_drill.py
"""

import json
import os
import sys
import threading
import time

from azure.cosmos import CosmosClient
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration

ENV = os.environ
DURATION_MS = int(ENV["COSMOSEAL_DRILL_DURATION_MS"])
INTERVAL_S = int(ENV.get("COSMOSEAL_DRILL_INTERVAL_MS", "50")) / 1000
OP_TIMEOUT_S = int(ENV.get("COSMOSEAL_DRILL_OP_TIMEOUT_MS", "5000")) / 1000
LOCK = threading.Lock()


def emit(record):
    with LOCK:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def describe(e):
    code = getattr(e, "status_code", None)
    sub = getattr(e, "sub_status", None)
    if code is not None:
        return f"{code}/{sub}" if sub else str(code)
    name = type(e).__name__
    return "timeout" if "Timeout" in name else name


def main():
    policy = ConnectionPolicy()
    # The test CA: with it the SDK verifies the endpoint's certificate (without it, it silently
    # stops verifying for 127.0.0.1 / localhost).
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = ENV["COSMOSEAL_DRILL_CA_FILE"]
    policy.PreferredLocations = [ENV["COSMOSEAL_DRILL_PREFERRED"]]
    policy.RequestTimeout = OP_TIMEOUT_S
    client = CosmosClient(ENV["COSMOSEAL_DRILL_ENDPOINT"], credential=ENV["COSMOSEAL_DRILL_KEY"], connection_policy=policy)
    container = client.get_database_client(ENV["COSMOSEAL_DRILL_DATABASE"]).get_container_client(ENV["COSMOSEAL_DRILL_CONTAINER"])
    container.read_item("r0", partition_key="p0")
    emit({"ready": True})
    t0 = time.time()

    def loop(kind, op):
        i = 0
        while True:
            start = time.time()
            item_id = f"{kind}{i}"
            try:
                op(i, item_id)
                emit({"kind": kind, "id": item_id, "start": start * 1000, "end": time.time() * 1000, "ok": True})
            except Exception as e:  # every failure is a data point
                emit({"kind": kind, "id": item_id, "start": start * 1000, "end": time.time() * 1000, "ok": False, "error": describe(e)})
            i += 1
            if (time.time() - t0) * 1000 >= DURATION_MS:
                return
            time.sleep(INTERVAL_S)

    def write(i, item_id):
        container.create_item({"id": item_id, "pk": f"p{i % 8}", "ssn": f"SSN-{i}"}, timeout=OP_TIMEOUT_S)

    def read(_i, _item_id):
        container.read_item("r0", partition_key="p0", timeout=OP_TIMEOUT_S)

    threads = [threading.Thread(target=loop, args=("w", write)), threading.Thread(target=loop, args=("r", read))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
