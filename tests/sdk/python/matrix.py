"""The Python leg of the SDK conformance matrix (tests/sdk/README.md).

The real azure-cosmos SDK (pinned in requirements.txt) talks to cosmoseal exactly as an app would:
endpoint + client key, TLS with the test CA. Started by tests/sdk/lib/run.mjs, which provides the
stack and a control API (COSMOSEAL_SDK_CONTROL) that tells what the upstream really stored and
received. Every protected value written here is a canary: the run fails if one reaches the
upstream, and every stored document is checked to hold envelopes at protected paths.

Scenarios listed in KNOWN_PRODUCT_GAPS fail today because of product bugs (tests/sdk/README.md
gives the evidence for each). They still run, but their outcome is reported, not asserted, unless
COSMOSEAL_SDK_STRICT=1. Remove a name from the list once the product is fixed.

Run: node tests/sdk/lib/run.mjs --sdk python -- tests/sdk/python/.venv/bin/python tests/sdk/python/matrix.py
"""

import json
import os
import sys
import time
import traceback
import urllib.request
import urllib.parse

from azure.cosmos import CosmosClient, PartitionKey, exceptions
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
import azure.cosmos

KNOWN_PRODUCT_GAPS = set()
# What today's stand-in upstream (@vercel/cosmosdb-server behind the e2e front) cannot serve; run
# but not asserted while COSMOSEAL_SDK_UPSTREAM_KIND is "standin" (the simulator serves them).
STANDIN_LIMITS = {
    "change_feed_incremental": "cosmosdb-server answers 304 to every If-None-Match change-feed read",
    "transactional_batch": "cosmosdb-server needs partitionKey inside each batch operation and has no Patch op",
}

ENV = os.environ
SDK = "python"
RUN = ENV.get("COSMOSEAL_SDK_RUN_ID", "local")
ENDPOINT = ENV.get("COSMOSEAL_SDK_ENDPOINT", "")
KEY = ENV.get("COSMOSEAL_SDK_KEY", "")
CA_FILE = ENV.get("COSMOSEAL_SDK_CA_FILE", "")
CONTROL = ENV.get("COSMOSEAL_SDK_CONTROL", "")
DATABASE = ENV.get("COSMOSEAL_SDK_DATABASE", "shop")
REPORT = ENV.get("COSMOSEAL_SDK_REPORT", "")
STRICT = ENV.get("COSMOSEAL_SDK_STRICT") == "1"
STANDIN = ENV.get("COSMOSEAL_SDK_UPSTREAM_KIND", "standin") == "standin"
ENVELOPE = "csx1:"
PROTECTED = ("ssn", "email", "address")


# --- the control API --------------------------------------------------------------------------

def control(method, path, body=None, **query):
    url = CONTROL.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())


def stored(coll, doc_id, pk):
    return control("GET", "/stored", coll=coll, id=doc_id, pk=json.dumps(pk))["doc"]


def assert_no_canary_hits():
    hits = control("GET", "/canary-hits")
    assert not hits, "protected plaintext reached the upstream: " + json.dumps(hits)[:600]


def make_doc(tag, n, tenant, **extra):
    """A document whose protected values are canaries unique to this run."""
    doc = {
        "id": f"{tag}-{n}",
        "tenant": tenant,
        "ssn": f"SSN-{SDK}-{RUN}-{tag}-{n}",
        "email": f"mail.{SDK}.{tag}.{n}.{RUN}@canary.example",
        "address": {"street": f"{n} Canary Street {RUN}-{tag}", "city": "Leakville"},
        "city": ["Lyon", "Oslo", "Rome"][n % 3],
        "rank": n,
        "kind": tag,
    }
    doc.update(extra)
    control("POST", "/canaries", [doc["ssn"], doc["email"], doc["address"]["street"]])
    return doc


def plain(doc):
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def assert_ciphertext(coll, doc):
    """What the upstream stored: envelopes at protected paths, everything else as written."""
    s = stored(coll, doc["id"], doc["tenant"])
    assert s is not None, f"{doc['id']} is not stored upstream"
    for k in PROTECTED:
        assert isinstance(s.get(k), str) and s[k].startswith(ENVELOPE), f"stored {doc['id']}/{k} is not an envelope: {str(s.get(k))[:80]}"
    for k, v in doc.items():
        if k not in PROTECTED:
            assert s.get(k) == v, f"stored {doc['id']}/{k}: {s.get(k)!r} != {v!r}"


def assert_same(got, want):
    got = plain(got)
    assert got == want, f"read back {json.dumps(got)[:300]} != written {json.dumps(want)[:300]}"


# --- clients ---------------------------------------------------------------------------------

def new_client(endpoint=None, **kw):
    # The SDK turns certificate checks off for "localhost" (the emulator's habit) unless an
    # SSLConfiguration names the CA: with it, cosmoseal's certificate is verified against the test CA.
    policy = ConnectionPolicy()
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = CA_FILE
    policy.RequestTimeout = 30
    return CosmosClient(endpoint or ENDPOINT, credential=KEY, connection_policy=policy, **kw)


CLIENT = None


def container(name):
    return CLIENT.get_database_client(DATABASE).get_container_client(name)


def setup():
    global CLIENT
    CLIENT = new_client()
    db = CLIENT.create_database_if_not_exists(DATABASE)
    for name in control("GET", "/info")["containers"]:
        db.create_container_if_not_exists(name, PartitionKey(path="/tenant"))
    if PPK:
        setup_ppk(db)


# --- scenarios -------------------------------------------------------------------------------

def s_account_discovery():
    acct = CLIENT.get_database_account()
    endpoints = [loc["databaseAccountEndpoint"] for loc in acct.WritableLocations + acct.ReadableLocations]
    assert endpoints, "discovery lists no location"
    want = urllib.parse.urlsplit(ENDPOINT).port
    for e in endpoints:
        assert urllib.parse.urlsplit(e).port == want, f"discovery advertises {e}, not cosmoseal ({ENDPOINT})"


def s_endpoint_trailing_slash():
    # The endpoint exactly as Azure shows it: https://host:port/ (with the trailing slash).
    ep = ENDPOINT if ENDPOINT.endswith("/") else ENDPOINT + "/"
    c = new_client(ep).get_database_client(DATABASE).get_container_client("crud")
    d = make_doc("slash", 1, "t-slash")
    c.create_item(d)
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d)
    assert_ciphertext("crud", d)


def s_crud():
    c = container("crud")
    d = make_doc("crud", 1, "t-crud")
    assert_same(c.create_item(d), d)
    assert_ciphertext("crud", d)
    d2 = dict(d, rank=100, ssn=d["ssn"] + "-r")
    control("POST", "/canaries", [d2["ssn"]])
    assert_same(c.replace_item(d["id"], d2), d2)
    assert_ciphertext("crud", d2)
    d3 = dict(d2, email="upsert." + d2["email"])
    control("POST", "/canaries", [d3["email"]])
    assert_same(c.upsert_item(d3), d3)
    assert_ciphertext("crud", d3)
    new = make_doc("crud", 2, "t-crud")
    assert_same(c.upsert_item(new), new)
    assert_ciphertext("crud", new)
    c.patch_item(d["id"], partition_key=d["tenant"], patch_operations=[{"op": "replace", "path": "/rank", "value": 7}])
    d3["rank"] = 7
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d3)
    assert_ciphertext("crud", d3)
    c.delete_item(d["id"], partition_key=d["tenant"])
    c.delete_item(new["id"], partition_key=new["tenant"])
    assert stored("crud", d["id"], d["tenant"]) is None, "deleted document still stored"


def s_patch_protected():
    c = container("crud")
    d = make_doc("patchp", 1, "t-patchp")
    c.create_item(d)
    v = f"SSN-{SDK}-{RUN}-patched"
    control("POST", "/canaries", [v])
    c.patch_item(d["id"], partition_key=d["tenant"], patch_operations=[{"op": "set", "path": "/ssn", "value": v}])
    d["ssn"] = v
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d)
    assert_ciphertext("crud", d)


def s_point_read():
    c = container("crud")
    d = make_doc("point", 1, "t-point")
    c.create_item(d)
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d)
    assert_ciphertext("crud", d)


QUERY_DOCS = []


def query_docs():
    if not QUERY_DOCS:
        c = container("query")
        for n in range(9):
            d = make_doc("q", n, f"t-q{n % 3}")
            c.create_item(d)
            QUERY_DOCS.append(d)
        for d in QUERY_DOCS:
            assert_ciphertext("query", d)
    return QUERY_DOCS


def q(sql, params=None, **kw):
    return list(container("query").query_items(sql, parameters=params or [], enable_cross_partition_query=True, **kw))


def s_query_equality():
    docs = query_docs()
    want = docs[4]
    got = q("SELECT * FROM c WHERE c.ssn = @ssn", [{"name": "@ssn", "value": want["ssn"]}])
    assert [plain(x) for x in got] == [want], f"parameterized equality: {got}"
    got = q(f"SELECT * FROM c WHERE c.email = '{want['email']}'")
    assert [plain(x) for x in got] == [want], f"literal equality: {got}"


def s_query_in():
    docs = query_docs()
    want = sorted([docs[1]["id"], docs[5]["id"]])
    got = q(f"SELECT VALUE c.id FROM c WHERE c.ssn IN ('{docs[1]['ssn']}', '{docs[5]['ssn']}')")
    assert sorted(got) == want, f"IN: {got}"


def s_query_projection():
    docs = query_docs()
    d = docs[2]
    got = list(container("query").query_items("SELECT c.id, c.ssn, c.address, c.city FROM c WHERE c.tenant = @t AND c.id = @id",
                                              parameters=[{"name": "@t", "value": d["tenant"]}, {"name": "@id", "value": d["id"]}],
                                              partition_key=d["tenant"]))
    assert got == [{"id": d["id"], "ssn": d["ssn"], "address": d["address"], "city": d["city"]}], f"projection: {got}"


def s_query_order_by():
    docs = query_docs()
    got = q("SELECT c.id, c.rank FROM c WHERE c.kind = 'q' ORDER BY c.rank DESC")
    assert [x["id"] for x in got] == [d["id"] for d in sorted(docs, key=lambda d: -d["rank"])], f"ORDER BY: {got}"


def s_query_count():
    docs = query_docs()
    got = q("SELECT VALUE COUNT(1) FROM c WHERE c.city = 'Oslo'")
    assert got == [sum(1 for d in docs if d["city"] == "Oslo")], f"COUNT: {got}"


def s_query_continuation():
    docs = query_docs()
    pages = container("query").query_items("SELECT * FROM c WHERE c.kind = 'q'", enable_cross_partition_query=True,
                                           max_item_count=2).by_page()
    first = list(next(pages))
    token = pages.continuation_token
    assert len(first) <= 2 and token, f"first page {len(first)} items, continuation {token!r}"
    seen = [plain(x) for x in first]
    rest = container("query").query_items("SELECT * FROM c WHERE c.kind = 'q'", enable_cross_partition_query=True,
                                          max_item_count=2).by_page(token)
    for page in rest:
        seen.extend(plain(x) for x in page)
    assert sorted(seen, key=lambda d: d["id"]) == sorted(docs, key=lambda d: d["id"]), f"pages gave {len(seen)} docs"


FEED_DOCS = []


def feed_docs():
    if not FEED_DOCS:
        c = container("feed")
        for n in range(4):
            d = make_doc("f", n, f"t-f{n % 2}")
            c.create_item(d)
            FEED_DOCS.append(d)
    return FEED_DOCS


def s_read_feed():
    docs = feed_docs()
    got = [plain(x) for x in container("feed").read_all_items(max_item_count=2)]
    assert sorted(got, key=lambda d: d["id"]) == sorted(docs, key=lambda d: d["id"]), f"read feed: {got}"


def s_change_feed_beginning():
    docs = feed_docs()
    got = [plain(x) for x in container("feed").query_items_change_feed(start_time="Beginning")]
    assert sorted(got, key=lambda d: d["id"]) == sorted(docs, key=lambda d: d["id"]), f"change feed: {got}"


def s_change_feed_incremental():
    feed_docs()
    c = container("feed")
    # Drained, the feed leaves its full state (every range's etag) in the last response's etag.
    # by_page().continuation_token lags one page behind: after a last, empty round it still misses
    # the ranges only that round visited (azure-cosmos 4.17.1, seen with 3 ranges).
    list(c.query_items_change_feed(start_time="Beginning"))
    token = c.client_connection.last_response_headers.get("etag")
    assert token, "no continuation from the change feed"
    d = make_doc("f", 10, "t-f0")
    c.create_item(d)
    got = [plain(x) for x in c.query_items_change_feed(continuation=token)]
    assert got == [d], f"incremental change feed: {got}"


def s_change_feed_feed_range():
    docs = feed_docs()
    c = container("feed")
    ranges = list(c.read_feed_ranges())
    assert ranges, "no feed ranges"
    got = []
    for r in ranges:
        got.extend(plain(x) for x in c.query_items_change_feed(feed_range=r, start_time="Beginning"))
    ids = {d["id"] for d in got}
    assert {d["id"] for d in docs} <= ids, f"per-range change feed: {sorted(ids)}"


def s_transactional_batch():
    c = container("batch")
    a = make_doc("b", 1, "t-b")
    b = make_doc("b", 2, "t-b")
    res = c.execute_item_batch([("create", (a,)), ("upsert", (b,)), ("read", (a["id"],)),
                                ("patch", (b["id"], [{"op": "replace", "path": "/rank", "value": 5}]))],
                               partition_key="t-b")
    assert len(res) == 4, f"batch results: {res}"
    assert_same(res[2]["resourceBody"], a)
    b["rank"] = 5
    assert_ciphertext("batch", a)
    assert_ciphertext("batch", b)


def s_read_many():
    c = container("many")
    docs = [make_doc("m", n, f"t-m{n}") for n in range(3)]
    for d in docs:
        c.create_item(d)
    got = c.read_items([(d["id"], d["tenant"]) for d in docs])
    assert sorted((plain(x) for x in got), key=lambda d: d["id"]) == docs, f"read_items: {list(got)}"


def s_session_consistency():
    cl = new_client(consistency_level="Session")
    c = cl.get_database_client(DATABASE).get_container_client("session")
    d = make_doc("s", 1, "t-s")
    c.create_item(d)
    token = c.client_connection.last_response_headers.get("x-ms-session-token")
    # cosmosdb-server issues no session tokens; the simulator does (per range).
    assert token or STANDIN, "no session token on the write"
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d)
    d["rank"] = 42
    c.replace_item(d["id"], d)
    assert c.read_item(d["id"], partition_key=d["tenant"])["rank"] == 42, "read after write is stale"


def s_throttle_429_retried():
    c = container("throttle")
    d = make_doc("t", 1, "t-t")
    c.create_item(d)
    before = len(control("GET", "/throttled")["served"])
    control("POST", "/throttle", {"count": 2, "method": "GET", "pathContains": "/colls/throttle/docs/", "retryAfterMs": 50})
    assert_same(c.read_item(d["id"], partition_key=d["tenant"]), d)
    served = len(control("GET", "/throttled")["served"]) - before
    assert served == 2, f"the upstream answered 429 {served} times, expected 2"


def s_harness_self_check():
    """The harness catches a leak: a canary in an unprotected field reaches the upstream as is."""
    c = container("crud")
    leak = f"LEAK-{SDK}-{RUN}-selfcheck"
    control("POST", "/canaries", [leak])
    d = make_doc("leak", 1, "t-leak", note=leak)
    c.create_item(d)
    hits = control("GET", "/canary-hits")
    assert any(h["canary"] == leak for h in hits), f"the planted leak was not detected: {hits}"
    assert stored("crud", d["id"], d["tenant"])["note"] == leak, "the stored document is not read from the upstream"
    assert control("POST", "/canary-hits/ack", {"canary": leak})["acknowledged"] >= 1
    c.delete_item(d["id"], partition_key=d["tenant"])



# --- protected partition keys (tests/sdk/README.md, "Protected partition keys") -------------------
# Containers whose partition key is a deterministic protected field, on the simulator (3 ranges per
# container): ppk_str (/cust, a string), ppk_num (/acct, a number), ppk_h (/tenant + /cust, MultiHash
# v2). Each cell either works (its results are asserted) or is refused by cosmoseal with a stable
# detail code (status and code asserted): never a silently wrong answer.

PPK = ENV.get("COSMOSEAL_SDK_PPK") == "1"
# The detail code cosmoseal answers (400) when a request carries only an EPK computed from the
# plaintext partition key and no key it could seal (issue 15 §2).
PLAINTEXT_EPK = "routing.plaintext_epk"
PPK_KEYS = 16  # keys per container: with 3 ranges, every range holds some (asserted)
# Protected-pk cells that fail against cosmoseal at main (the reason: README "Protected partition
# keys"); run and reported, not asserted, unless COSMOSEAL_SDK_STRICT=1. Remove a name once it passes.
PPK_GAPS = {}
if ENV.get("COSMOSEAL_SDK_PPK_SURVEY") == "1":  # every ppk cell judged on its own (used to fill PPK_GAPS)
    PPK_GAPS = {f"{c}.{cell}": "survey" for c in ("ppk_str", "ppk_num", "ppk_h") for cell in (
        "crud", "point_read", "query_pk", "query_cross_partition_pk_where", "read_feed", "change_feed_beginning",
        "change_feed_feed_range", "change_feed_partition_key", "read_many", "transactional_batch", "prefix_query",
        "session_consistency")}
PPK_INFO = {}
PPK_DOCS = {}
# ppk_h: the MultiHash EPK starts with hash(tenant), so the tenant picks the range; these four land
# in each of the simulator's 3 ranges (t0, t2: the first; t10: the second; t1: the third).
TENANTS = ["t0", "t1", "t2", "t10"]
NUMS = [5, 7.25, -3, 0.5, 12, 100, 1000000, 42.125, -0.75, 3, 2.5, 64, 1e-3, 999, 7, 13.5]


def ppk_key_of(cname, doc):
    if cname == "ppk_str":
        return doc["cust"]
    if cname == "ppk_num":
        return doc["acct"]
    return [doc["tenant"], doc["cust"]]


def ppk_doc(cname, i, kind="base", key=None):
    """A document of a ppk container whose protected values (the key included) are canaries."""
    doc = {"id": f"{cname}-{kind}-{i}", "ssn": f"SSN-{SDK}-{RUN}-{cname}-{kind}-{i}",
           "address": {"street": f"{i} Canary Road {RUN}-{cname}-{kind}", "city": "Leakville"},
           "rank": i, "kind": kind}
    if cname == "ppk_num":
        doc["acct"] = key if key is not None else NUMS[i % len(NUMS)]
        control("POST", "/pk-canaries", [doc["acct"]])
    else:
        doc["cust"] = key if key is not None else f"CUST-{SDK}-{RUN}-{cname}-{kind}-{i}"
        control("POST", "/pk-canaries", [doc["cust"]])
        control("POST", "/canaries", [doc["cust"]])
        if cname == "ppk_h":
            doc["tenant"] = TENANTS[i % len(TENANTS)]
    control("POST", "/canaries", [doc["ssn"], doc["address"]["street"]])
    return doc


def ppk_container(cname):
    return container(cname)


def ppk_assert_stored(cname, doc):
    s = control("GET", "/stored", coll=cname, id=doc["id"])["doc"]
    assert s is not None, f"{cname}/{doc['id']} is not stored upstream"
    for k in [f for f in ("cust", "acct", "ssn", "address") if f in doc]:
        assert isinstance(s.get(k), str) and s[k].startswith(ENVELOPE), f"stored {doc['id']}/{k} is not an envelope: {str(s.get(k))[:80]}"
    for k, v in doc.items():
        if k not in ("cust", "acct", "ssn", "address"):
            assert s.get(k) == v, f"stored {doc['id']}/{k}: {s.get(k)!r} != {v!r}"


def ppk_docs(cname):
    """The base set: PPK_KEYS documents, one per key, created once (the crud cell asserts it)."""
    if cname not in PPK_DOCS:
        c = ppk_container(cname)
        docs = [ppk_doc(cname, i) for i in range(PPK_KEYS)]
        for d in docs:
            assert_same(c.create_item(d), d)
        PPK_DOCS[cname] = docs
    return PPK_DOCS[cname]


def base_only(items):
    return sorted((plain(x) for x in items if x.get("kind") == "base"), key=lambda d: d["id"])


def by_id(docs):
    return sorted(docs, key=lambda d: d["id"])


def cosmoseal_detail(e):
    if e.response is None:
        return ""
    d = e.response.headers.get("x-cosmoseal-detail", "")
    if d:
        return d
    try:
        return json.loads(e.response.text()).get("detail", "")
    except Exception:  # not JSON
        return ""


def expect_refusal(fn, status=400, detail=PLAINTEXT_EPK):
    """The call must be refused by cosmoseal with `status` and `detail`: no answer, and nothing sent upstream."""
    try:
        got = fn()
    except exceptions.CosmosHttpResponseError as e:
        d = cosmoseal_detail(e)
        assert e.status_code == status and d == detail, f"expected HTTP {status} {detail}, got HTTP {e.status_code} {d!r}: {str(e.message)[:300]}"
        return
    raise AssertionError(f"expected HTTP {status} {detail}, the call answered: {str(got)[:300]}")


def ppk_crud(cname):
    c = ppk_container(cname)
    docs = ppk_docs(cname)
    for d in docs:
        ppk_assert_stored(cname, d)
    counts = control("GET", "/range-counts", coll=cname)["counts"]
    assert counts and len(counts) >= 3 and all(n > 0 for n in counts.values()), f"documents per range: {counts}"
    x = ppk_doc(cname, 1, kind="extra")
    pk = ppk_key_of(cname, x)
    assert_same(c.create_item(x), x)
    x2 = dict(x, rank=100, ssn=x["ssn"] + "-r")
    control("POST", "/canaries", [x2["ssn"]])
    assert_same(c.replace_item(x["id"], x2), x2)
    x3 = dict(x2, rank=101)
    assert_same(c.upsert_item(x3), x3)
    c.patch_item(x["id"], partition_key=pk, patch_operations=[{"op": "replace", "path": "/rank", "value": 7}])
    x3["rank"] = 7
    assert_same(c.read_item(x["id"], partition_key=pk), x3)
    ppk_assert_stored(cname, x3)
    c.delete_item(x["id"], partition_key=pk)
    assert control("GET", "/stored", coll=cname, id=x["id"])["doc"] is None, "deleted document still stored"
    try:
        c.read_item(x["id"], partition_key=pk)
        raise AssertionError("a deleted document was read back")
    except exceptions.CosmosResourceNotFoundError:
        pass


def ppk_point_read(cname):
    c = ppk_container(cname)
    for d in ppk_docs(cname):
        assert_same(c.read_item(d["id"], partition_key=ppk_key_of(cname, d)), d)


def ppk_query_pk(cname):
    c = ppk_container(cname)
    docs = ppk_docs(cname)
    for d in docs[:6]:
        got = list(c.query_items("SELECT * FROM c WHERE c.kind = 'base'", partition_key=ppk_key_of(cname, d)))
        assert base_only(got) == [d], f"pk {ppk_key_of(cname, d)!r}: {[x.get('id') for x in got]}"


def ppk_query_cross(cname):
    docs = ppk_docs(cname)
    field = "acct" if cname == "ppk_num" else "cust"
    for d in docs[:4]:
        got = list(ppk_container(cname).query_items(f"SELECT * FROM c WHERE c.{field} = @v", parameters=[{"name": "@v", "value": d[field]}],
                                                    enable_cross_partition_query=True))
        assert base_only(got) == [d], f"{field} = {d[field]!r}: {[x.get('id') for x in got]}"
    lit = json.dumps(docs[1][field])
    got = list(ppk_container(cname).query_items(f"SELECT * FROM c WHERE c.{field} = {lit}", enable_cross_partition_query=True))
    assert base_only(got) == [docs[1]], f"{field} = {lit} (literal): {[x.get('id') for x in got]}"


def ppk_read_feed(cname):
    docs = ppk_docs(cname)
    got = base_only(ppk_container(cname).read_all_items(max_item_count=5))
    assert got == by_id(docs), f"read feed: {len(got)} of {len(docs)} documents"


def ppk_change_feed(cname):
    docs = ppk_docs(cname)
    got = base_only(ppk_container(cname).query_items_change_feed(start_time="Beginning"))
    assert got == by_id(docs), f"change feed: {len(got)} of {len(docs)} documents"


def ppk_change_feed_feed_range(cname):
    docs = ppk_docs(cname)
    c = ppk_container(cname)
    ranges = list(c.read_feed_ranges())
    assert len(ranges) >= 3, f"{len(ranges)} feed ranges"
    got = []
    for r in ranges:
        got.extend(c.query_items_change_feed(feed_range=r, start_time="Beginning"))
    assert base_only(got) == by_id(docs), f"per-range change feed: {len(base_only(got))} of {len(docs)} documents"


def ppk_change_feed_pk(cname):
    # azure-cosmos sends x-ms-start-epk/x-ms-end-epk hashed from the plaintext key and no key header:
    # cosmoseal cannot seal what it is not given, so it must refuse (never forward the hash).
    d = ppk_docs(cname)[2]
    c = ppk_container(cname)
    expect_refusal(lambda: list(c.query_items_change_feed(partition_key=ppk_key_of(cname, d), start_time="Beginning")))


def ppk_read_many(cname):
    docs = ppk_docs(cname)
    got = ppk_container(cname).read_items([(d["id"], ppk_key_of(cname, d)) for d in docs])
    assert base_only(got) == by_id(docs), f"read_items: {len(base_only(got))} of {len(docs)} documents"


def ppk_batch(cname):
    c = ppk_container(cname)
    first = ppk_doc(cname, 20, kind="batch")
    key = first["acct"] if cname == "ppk_num" else first["cust"]
    second = ppk_doc(cname, 21, kind="batch", key=key)
    if cname == "ppk_h":
        second["tenant"] = first["tenant"]
    pk = ppk_key_of(cname, first)
    res = c.execute_item_batch([("create", (first,)), ("upsert", (second,)), ("read", (first["id"],)),
                                ("patch", (second["id"], [{"op": "replace", "path": "/rank", "value": 5}]))], partition_key=pk)
    assert len(res) == 4, f"batch results: {res}"
    assert_same(res[2]["resourceBody"], first)
    second["rank"] = 5
    assert_same(c.read_item(second["id"], partition_key=pk), second)
    ppk_assert_stored(cname, first)
    ppk_assert_stored(cname, second)


def ppk_prefix_query(cname):
    docs = ppk_docs(cname)
    c = ppk_container(cname)
    for t in TENANTS:
        got = base_only(c.query_items("SELECT * FROM c", partition_key=[t]))
        want = by_id([d for d in docs if d["tenant"] == t])
        assert got == want, f"prefix [{t!r}]: {[x['id'] for x in got]} != {[x['id'] for x in want]}"


def ppk_session(cname):
    docs = ppk_docs(cname)
    cl = new_client(consistency_level="Session")
    c = cl.get_database_client(DATABASE).get_container_client(cname)
    for i, d in enumerate(docs):
        s = ppk_doc(cname, 40 + i, kind="session", key=d["acct"] if cname == "ppk_num" else d["cust"])
        if cname == "ppk_h":
            s["tenant"] = d["tenant"]
        pk = ppk_key_of(cname, s)
        c.create_item(s)
        assert c.client_connection.last_response_headers.get("x-ms-session-token"), "no session token on the write"
        assert_same(c.read_item(s["id"], partition_key=pk), s)
        s["rank"] = 1000 + i
        c.replace_item(s["id"], s)
        assert c.read_item(s["id"], partition_key=pk)["rank"] == 1000 + i, f"read after write is stale ({s['id']})"


def ppk_epk_self_check():
    """The EPK scan catches a leak: the EPK of a pk canary, planted in an unprotected field."""
    value = f"CUST-{SDK}-{RUN}-epk-selfcheck"
    control("POST", "/pk-canaries", [value])
    epk = epk_v2_of_string(value)
    c = ppk_container("ppk_str")
    d = ppk_doc("ppk_str", 99, kind="selfcheck")
    d["note"] = epk
    c.create_item(d)
    hits = control("GET", "/canary-hits")
    assert any(h["canary"].startswith(json.dumps(value)) for h in hits), f"the planted EPK was not detected: {hits}"
    assert control("POST", "/canary-hits/ack", {"canary": value})["acknowledged"] >= 1
    c.delete_item(d["id"], partition_key=d["cust"])


def epk_v2_of_string(value):
    """The EPK (hash V2) azure-cosmos computes for a one-path string key, through its own code."""
    from azure.cosmos.partition_key import PartitionKey as _Pk  # the SDK's implementation, not ours
    return _Pk(path="/cust", kind="Hash", version=2)._get_effective_partition_key_string([value]).upper()


PPK_CELLS = [
    ("crud", ppk_crud), ("point_read", ppk_point_read), ("query_pk", ppk_query_pk),
    ("query_cross_partition_pk_where", ppk_query_cross), ("read_feed", ppk_read_feed),
    ("change_feed_beginning", ppk_change_feed), ("change_feed_feed_range", ppk_change_feed_feed_range),
    ("change_feed_partition_key", ppk_change_feed_pk), ("read_many", ppk_read_many),
    ("transactional_batch", ppk_batch), ("prefix_query", ppk_prefix_query), ("session_consistency", ppk_session),
]


def ppk_scenarios():
    out = [("ppk_epk_self_check", ppk_epk_self_check)]
    for cname in ("ppk_str", "ppk_num", "ppk_h"):
        for cell, fn in PPK_CELLS:
            if cell == "prefix_query" and cname != "ppk_h":
                continue
            out.append((f"{cname}.{cell}", (lambda f, n: lambda: f(n))(fn, cname)))
    return out


def setup_ppk(db):
    from azure.cosmos.partition_key import PartitionKey as _Pk
    for c in control("GET", "/info")["ppk"]:
        PPK_INFO[c["name"]] = c
        if c["kind"] == "MultiHash":
            db.create_container_if_not_exists(c["name"], _Pk(path=c["paths"], kind="MultiHash", version=2))
        else:
            db.create_container_if_not_exists(c["name"], PartitionKey(path=c["paths"][0]))


SCENARIOS = [
    ("harness_self_check", s_harness_self_check),
    ("account_discovery", s_account_discovery),
    ("endpoint_trailing_slash", s_endpoint_trailing_slash),
    ("crud", s_crud),
    ("patch_protected", s_patch_protected),
    ("point_read", s_point_read),
    ("query_equality", s_query_equality),
    ("query_in", s_query_in),
    ("query_projection", s_query_projection),
    ("query_order_by", s_query_order_by),
    ("query_count", s_query_count),
    ("query_continuation", s_query_continuation),
    ("read_feed", s_read_feed),
    ("change_feed_beginning", s_change_feed_beginning),
    ("change_feed_incremental", s_change_feed_incremental),
    ("change_feed_feed_range", s_change_feed_feed_range),
    ("transactional_batch", s_transactional_batch),
    ("read_many", s_read_many),
    ("session_consistency", s_session_consistency),
    ("throttle_429_retried", s_throttle_429_retried),
]
# Not possible with this SDK through any gateway (reported, never run).
NOT_POSSIBLE = {"bulk": "azure-cosmos for Python has no bulk API (only transactional batch, execute_item_batch)"}
if PPK:
    SCENARIOS += ppk_scenarios()
    NOT_POSSIBLE.update({f"{c}.bulk": "no bulk API" for c in ("ppk_str", "ppk_num", "ppk_h")})


def describe(e):
    if isinstance(e, exceptions.CosmosHttpResponseError):
        detail = ""
        if e.response is not None:
            detail = e.response.headers.get("x-cosmoseal-detail", "")
        return f"HTTP {e.status_code} {detail} {str(e.message)[:400]}".strip()
    return f"{type(e).__name__}: {str(e)[:500]}"


def report(scenario, status, ms, detail=""):
    line = {"sdk": SDK, "version": f"azure-cosmos {azure.cosmos.__version__}", "scenario": scenario, "status": status,
            "ms": ms, "detail": detail}
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def main():
    if not ENDPOINT or not CONTROL:
        print("matrix.py: start it through tests/sdk/lib/run.mjs (COSMOSEAL_SDK_* are not set)", file=sys.stderr)
        return 2
    only = set(sys.argv[1:])
    setup()
    passed = failed = 0
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        limit = STANDIN_LIMITS.get(name) if STANDIN and not STRICT else None
        gap = (name in KNOWN_PRODUCT_GAPS or name in PPK_GAPS or limit is not None) and not STRICT
        t0 = time.monotonic()
        err = None
        try:
            fn()
            assert_no_canary_hits()
        except Exception as e:  # the scenario's verdict, whatever failed
            err = e
            if not gap:
                traceback.print_exc()
        ms = int((time.monotonic() - t0) * 1000)
        if gap:
            # What a known gap leaked is reported by the launcher, and taken back so that the next
            # scenario starts clean (COSMOSEAL_SDK_STRICT=1 asserts it instead).
            control("POST", "/canary-hits/ack", {"all": True, "scenario": name})
            kind, lst = ("standin", "STANDIN_LIMITS") if limit else ("gap", "KNOWN_PRODUCT_GAPS")
            status = f"{kind}-fails" if err else f"{kind}-passes"
            print(f"{lst} {name}: " + (f"still fails: {describe(err)}" if err else f"passes now: remove it from {lst}"))
            why = f" [stand-in: {limit}]" if limit else (f" [gap: {PPK_GAPS[name]}]" if name in PPK_GAPS else "")
            report(name, status, ms, (describe(err) if err else "") + why)
            continue
        if err:
            failed += 1
            print(f"FAIL {name} ({ms} ms): {describe(err)}")
            report(name, "fail", ms, describe(err))
        else:
            passed += 1
            print(f"ok   {name} ({ms} ms)")
            report(name, "pass", ms)
    for name, why in NOT_POSSIBLE.items():
        report(name, "n/a", 0, why)
    print(f"python: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
