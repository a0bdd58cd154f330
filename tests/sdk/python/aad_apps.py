"""Entra ID, through cosmoseal (tests/sdk/README.md): azure-cosmos with azure-identity credentials
(authority host = the test identity provider) through cosmoseal, which verifies the tokens, maps
them to its clients by object id and seals the protected fields.

Started by tests/sdk/lib/aad-apps.mjs (once per upstream: account key, Entra token), which provides
the environment (COSMOSEAL_AAD_*, AZURE_*) and checks the simulator, the audit log and the
provider afterwards. Each credential type does the same data-plane round; an identity no client
names gets 403 auth.unknown_identity; a client-key app works beside them.
"""

import json
import os
import sys
import traceback
import urllib.parse
import urllib.request

from azure.cosmos import exceptions
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from aad_common import CLIENT_ID, CONTAINER, DATABASE, IDENTITY_OPTS, TENANT, client

CONTROL = os.environ["COSMOSEAL_AAD_CONTROL"]
RUN = os.environ["COSMOSEAL_AAD_RUN"]
UPSTREAM = os.environ["COSMOSEAL_AAD_UPSTREAM"]
TAG = "[aad-apps-python]"
ENVELOPE = "csx1:"
DETAIL = "x-cosmoseal-detail"


def control(method, path, body=None, **query):
    url = CONTROL.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=30) as res:
        return json.loads(res.read())


def canary_doc(tag, i):
    d = {
        "id": f"{tag}-{i}",
        "pk": f"{tag}-p{i % 2}",
        "n": i,
        "tag": tag,
        "ssn": f"ssn-{RUN}-{UPSTREAM}-{tag}-{i}",
        "address": {"street": f"street-{RUN}-{UPSTREAM}-{tag}-{i}", "city": "Lyon"},
    }
    control("POST", "/canaries", [d["ssn"], d["address"]["street"]])
    return d


def assert_sealed(doc):
    """What the simulator stores: envelopes at /ssn and /address, the rest as written."""
    s = control("GET", "/stored", id=doc["id"])["doc"]
    assert s is not None, f"{doc['id']} is not stored upstream"
    for k in ("ssn", "address"):
        assert isinstance(s.get(k), str) and s[k].startswith(ENVELOPE), f"stored {doc['id']}/{k} is not an envelope: {str(s.get(k))[:80]}"
    for k in ("id", "pk", "n", "tag"):
        assert s.get(k) == doc[k], f"stored {doc['id']}/{k}: {s.get(k)!r} != {doc[k]!r}"


def assert_no_canary_hits():
    hits = control("GET", "/canary-hits")
    assert hits == [], f"canaries reached the simulator: {hits[:3]}"


def data_plane(c, tag):
    """create / read / replace / query (equality on the deterministic /ssn) / delete."""
    cont = c.get_database_client(DATABASE).get_container_client(CONTAINER)
    docs = [canary_doc(tag, i) for i in range(3)]
    for d in docs:
        cont.create_item(d)
    got = cont.read_item(docs[1]["id"], partition_key=docs[1]["pk"])
    assert got["ssn"] == docs[1]["ssn"] and got["address"] == docs[1]["address"], got
    # replace: a new ssn, sealed again
    docs[1] = {**docs[1], "ssn": f"ssn-{RUN}-{UPSTREAM}-{tag}-1r", "n": 10}
    control("POST", "/canaries", [docs[1]["ssn"]])
    cont.replace_item(docs[1]["id"], docs[1])
    assert cont.read_item(docs[1]["id"], partition_key=docs[1]["pk"])["ssn"] == docs[1]["ssn"]
    # equality on the deterministic field, across partitions
    found = list(cont.query_items("SELECT * FROM c WHERE c.ssn = @s", parameters=[{"name": "@s", "value": docs[2]["ssn"]}], enable_cross_partition_query=True))
    assert [d["id"] for d in found] == [docs[2]["id"]], found
    assert found[0]["address"] == docs[2]["address"], found[0]
    found = list(cont.query_items("SELECT * FROM c WHERE c.ssn = @s", parameters=[{"name": "@s", "value": docs[1]["ssn"]}], partition_key=docs[1]["pk"]))
    assert [d["n"] for d in found] == [10], found
    for d in docs:
        assert_sealed(d)
    cont.delete_item(docs[0]["id"], partition_key=docs[0]["pk"])
    try:
        cont.read_item(docs[0]["id"], partition_key=docs[0]["pk"])
        raise AssertionError("a deleted item was read")
    except exceptions.CosmosResourceNotFoundError:
        pass
    assert control("GET", "/stored", id=docs[0]["id"])["doc"] is None, "the deleted item is still stored"
    assert_no_canary_hits()


def stranger_refused():
    """An identity the provider knows but no cosmoseal client names: 403 auth.unknown_identity."""
    cred = ClientSecretCredential(TENANT, os.environ["COSMOSEAL_AAD_STRANGER_ID"], os.environ["COSMOSEAL_AAD_STRANGER_SECRET"], **IDENTITY_OPTS)
    try:
        # The client reads the account when it is made: that request may be the one refused.
        client(cred).get_database_client(DATABASE).get_container_client(CONTAINER).read_item("x", partition_key="x")
        raise AssertionError("an unknown identity was served")
    except exceptions.CosmosHttpResponseError as e:
        detail = e.response.headers.get(DETAIL) if e.response is not None else None
        assert e.status_code == 403 and detail == "auth.unknown_identity", (e.status_code, detail, e.message)


def keyed_app():
    """A client-key app beside the Entra ones."""
    c = client(os.environ["COSMOSEAL_AAD_CLIENT_KEY"])  # a key is a credential too
    cont = c.get_database_client(DATABASE).get_container_client(CONTAINER)
    d = canary_doc("key", 0)
    cont.create_item(d)
    assert cont.read_item(d["id"], partition_key=d["pk"])["ssn"] == d["ssn"]
    assert_sealed(d)
    assert_no_canary_hits()


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
    run("python ClientSecretCredential", "secret", lambda: data_plane(client(secret), "secret"))
    cert = CertificateCredential(TENANT, CLIENT_ID, certificate_path=os.environ["AZURE_CLIENT_CERTIFICATE_PATH"], **IDENTITY_OPTS)
    run("python CertificateCredential", "certificate", lambda: data_plane(client(cert), "cert"))
    wi = WorkloadIdentityCredential(tenant_id=TENANT, client_id=CLIENT_ID, token_file_path=os.environ["AZURE_FEDERATED_TOKEN_FILE"], **IDENTITY_OPTS)
    run("python WorkloadIdentityCredential", "workload", lambda: data_plane(client(wi), "wi"))

    def managed():
        # App Service style endpoint; exported only here so the other credentials do not see it.
        # A managed identity endpoint refuses cosmoseal's host as a resource in a form the SDK
        # does not recognise (MSAL: "invalid_scope"), so the SDK's fallback to
        # https://cosmos.azure.com/.default never happens: such apps name the scope with the
        # SDK's own setting (README "Entra ID, through cosmoseal"), read when the client is made.
        os.environ["IDENTITY_ENDPOINT"] = os.environ["COSMOSEAL_AAD_IDENTITY_ENDPOINT"]
        os.environ["IDENTITY_HEADER"] = os.environ["COSMOSEAL_AAD_IDENTITY_HEADER"]
        os.environ["AZURE_COSMOS_AAD_SCOPE_OVERRIDE"] = "https://cosmos.azure.com/.default"
        try:
            data_plane(client(ManagedIdentityCredential()), "mi")
        finally:
            del os.environ["IDENTITY_ENDPOINT"]
            del os.environ["IDENTITY_HEADER"]
            del os.environ["AZURE_COSMOS_AAD_SCOPE_OVERRIDE"]

    run("python ManagedIdentityCredential (App Service)", "managed", managed)
    # What Microsoft recommends for apps: the chain picks EnvironmentCredential (AZURE_CLIENT_SECRET).
    default = DefaultAzureCredential(exclude_managed_identity_credential=True, exclude_workload_identity_credential=True, **IDENTITY_OPTS)
    run("python DefaultAzureCredential (environment)", "secret", lambda: data_plane(client(default), "default"))
    run("python unknown identity: 403 auth.unknown_identity", None, stranger_refused)
    run("python client key beside Entra apps", None, keyed_app)

    for name, outcome, detail in results:
        print(f"{TAG} {outcome} {name}{(': ' + detail) if detail else ''}")
    with open(os.environ["COSMOSEAL_AAD_REPORT"], "w", encoding="utf-8") as f:
        json.dump({"credentials": used, "results": [{"name": n, "outcome": o} for n, o, _ in results]}, f)
    failed = [r for r in results if r[1] != "PASS"]
    print(f"{TAG} {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
