"""Entra ID, direct (tests/sdk/README.md): azure-cosmos with azure-identity credentials against the
simulator with local auth disabled, the authority host being the test identity provider.

Started by tests/sdk/lib/aad-direct.mjs, which provides the environment (COSMOSEAL_AAD_*, AZURE_*)
and checks the simulator's log afterwards. Each credential type does the same data-plane round;
control-plane calls must get 403 substatus 5300, the account key 401.
"""

import json
import os
import sys
import traceback

from azure.cosmos import PartitionKey, exceptions
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from aad_common import CLIENT_ID, CONTAINER, DATABASE, IDENTITY_OPTS, TENANT, client

TAG = "[aad-direct-python]"


def data_plane(c, tag):
    db = c.get_database_client(DATABASE)
    assert db.read()["id"] == DATABASE
    cont = db.get_container_client(CONTAINER)
    assert cont.read()["id"] == CONTAINER
    for i in range(6):
        cont.create_item({"id": f"{tag}-{i}", "pk": f"p{i % 3}", "n": i, "tag": tag})
    assert cont.read_item(f"{tag}-1", partition_key="p1")["n"] == 1
    cont.upsert_item({"id": f"{tag}-2", "pk": "p2", "n": 20, "tag": tag})
    cont.patch_item(f"{tag}-1", partition_key="p1", patch_operations=[{"op": "incr", "path": "/n", "value": 10}])
    total = list(cont.query_items("SELECT VALUE SUM(c.n) FROM c WHERE c.tag = @t", parameters=[{"name": "@t", "value": tag}], enable_cross_partition_query=True))
    assert total == [0 + 11 + 20 + 3 + 4 + 5], total
    cont.delete_item(f"{tag}-5", partition_key="p2")
    feed = list(cont.query_items_change_feed(partition_key="p0", start_time="Beginning"))
    assert any(d["id"] == f"{tag}-0" for d in feed), "change feed shows the item"


def control_plane_refused(c):
    try:
        c.create_database("newdb")
        raise AssertionError("create_database was allowed with an AAD token")
    except exceptions.CosmosHttpResponseError as e:
        assert e.status_code == 403 and e.sub_status == 5300, (e.status_code, e.sub_status, e.message)
    try:
        c.get_database_client(DATABASE).create_container("c2", partition_key=PartitionKey(path="/pk"))
        raise AssertionError("create_container was allowed with an AAD token")
    except exceptions.CosmosHttpResponseError as e:
        assert e.status_code == 403 and e.sub_status == 5300, (e.status_code, e.sub_status, e.message)


def key_refused():
    try:
        client(os.environ["COSMOSEAL_AAD_KEY"]).get_database_client(DATABASE).read()
        raise AssertionError("the account key was accepted with local auth disabled")
    except exceptions.CosmosHttpResponseError as e:
        assert e.status_code == 401 and "Local Authorization is disabled" in e.message, (e.status_code, e.message)


def main():
    used = []
    results = []

    def run(name, kind, fn):
        try:
            fn()
            results.append((name, "PASS", ""))
            if kind:
                used.append(kind)
        except Exception as e:  # noqa: BLE001 - every failure is reported and fails the run
            results.append((name, "FAIL", f"{type(e).__name__}: {e}"))
            traceback.print_exc()

    secret = ClientSecretCredential(TENANT, CLIENT_ID, os.environ["AZURE_CLIENT_SECRET"], **IDENTITY_OPTS)
    run("client secret: data plane", "secret", lambda: data_plane(client(secret), "secret"))
    run("client secret: control plane 403/5300", None, lambda: control_plane_refused(client(secret)))
    run("account key: 401 local auth disabled", None, key_refused)
    cert = CertificateCredential(TENANT, CLIENT_ID, certificate_path=os.environ["AZURE_CLIENT_CERTIFICATE_PATH"], **IDENTITY_OPTS)
    run("certificate: data plane", "certificate", lambda: data_plane(client(cert), "cert"))
    wi = WorkloadIdentityCredential(tenant_id=TENANT, client_id=CLIENT_ID, token_file_path=os.environ["AZURE_FEDERATED_TOKEN_FILE"], **IDENTITY_OPTS)
    run("workload identity: data plane", "workload", lambda: data_plane(client(wi), "wi"))

    def managed():
        os.environ["IDENTITY_ENDPOINT"] = os.environ["COSMOSEAL_AAD_IDENTITY_ENDPOINT"]
        os.environ["IDENTITY_HEADER"] = os.environ["COSMOSEAL_AAD_IDENTITY_HEADER"]
        try:
            data_plane(client(ManagedIdentityCredential()), "mi")
        finally:
            del os.environ["IDENTITY_ENDPOINT"]
            del os.environ["IDENTITY_HEADER"]

    run("managed identity (App Service): data plane", "managed", managed)

    for name, outcome, detail in results:
        print(f"{TAG} {outcome} {name}{(': ' + detail) if detail else ''}")
    with open(os.environ["COSMOSEAL_AAD_REPORT"], "w", encoding="utf-8") as f:
        json.dump({"credentials": used, "results": [{"name": n, "outcome": o} for n, o, _ in results]}, f)
    failed = [r for r in results if r[1] != "PASS"]
    print(f"{TAG} {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
