// The Go leg of the SDK conformance matrix (tests/sdk/README.md): the real azcosmos SDK through
// cosmoseal over TLS (the test CA in the client's root pool), with a client key, exactly as an app
// would use it. Started by tests/sdk/lib/run.mjs, whose control API (COSMOSEAL_SDK_CONTROL) tells
// what the upstream really stored and received.
//
// Each scenario is one subtest. Scenarios in knownProductGaps fail today because of product bugs
// (evidence in tests/sdk/README.md): they still run, after the others, and their outcome is
// reported, not asserted, unless COSMOSEAL_SDK_STRICT=1. standinLimits are the same for what the
// stand-in upstream (cosmosdb-server) cannot serve.
package matrix

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

var knownProductGaps = map[string]bool{}

// cosmosdb-server's partition-key range has "id": 0 (a number; Cosmos sends "0"), which azcosmos
// cannot decode: every feature that reads pkranges fails on the stand-in before cosmoseal matters.
const pkrangeNumericID = "cosmosdb-server returns its partition-key range with a numeric id (json: cannot unmarshal number into partitionKeyRangeResponse)"

var standinLimits = map[string]string{
	"change_feed_beginning":   pkrangeNumericID,
	"change_feed_feed_range":  pkrangeNumericID,
	"read_many":               pkrangeNumericID,
	"change_feed_incremental": pkrangeNumericID + "; and it answers 304 to every If-None-Match change-feed read",
	"transactional_batch":     "cosmosdb-server needs partitionKey inside each batch operation and has no Patch op",
}

var notPossible = map[string]string{
	"bulk": "azcosmos has no bulk API (only transactional batch)",
	// azcosmos has no query-plan pipeline: the service (and the simulator) refuse a cross-partition
	// ORDER BY or aggregate with 400 "The provided cross partition query can not be directly served
	// by the gateway". cosmosdb-server serves anything, so the stand-in would hide it. Within one
	// partition both work: query_order_by_in_partition, query_count_in_partition.
	"query_order_by": "azcosmos v1.5.0 has no query plans: a cross-partition ORDER BY is refused by the gateway (400)",
	"query_count":    "azcosmos v1.5.0 has no query plans: a cross-partition COUNT is refused by the gateway (400)",
}

const sdkName = "go"
const envelope = "csx1:"

var protected = []string{"ssn", "email", "address"}

type env struct {
	endpoint, key, caFile, control, database, run, report string
	strict, standin                                       bool
}

var cfg env
var client *azcosmos.Client
var db *azcosmos.DatabaseClient

type doc = map[string]any

// --- the control API -------------------------------------------------------------------------

func control(method, path string, body any, query ...string) (map[string]any, error) {
	u := strings.TrimSuffix(cfg.control, "/") + path
	if len(query) > 0 {
		v := url.Values{}
		for i := 0; i < len(query); i += 2 {
			v.Set(query[i], query[i+1])
		}
		u += "?" + v.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("control %s: %d %s", path, res.StatusCode, raw)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	if m, ok := out.(map[string]any); ok {
		return m, nil
	}
	return map[string]any{"list": out}, nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func check(cond bool, format string, a ...any) {
	if !cond {
		panic(fmt.Errorf(format, a...))
	}
}

func canaries(values ...string) { must(control("POST", "/canaries", values)) }

func stored(coll, id, pk string) doc {
	m := must(control("GET", "/stored", nil, "coll", coll, "id", id, "pk", fmt.Sprintf("%q", pk)))
	d, _ := m["doc"].(map[string]any)
	return d
}

func assertNoCanaryHits() {
	m := must(control("GET", "/canary-hits", nil))
	l, _ := m["list"].([]any)
	check(len(l) == 0, "protected plaintext reached the upstream: %v", l)
}

func makeDoc(tag string, n int, tenant string) doc {
	d := doc{
		"id":      fmt.Sprintf("%s-%d", tag, n),
		"tenant":  tenant,
		"ssn":     fmt.Sprintf("SSN-%s-%s-%s-%d", sdkName, cfg.run, tag, n),
		"email":   fmt.Sprintf("mail.%s.%s.%d.%s@canary.example", sdkName, tag, n, cfg.run),
		"address": map[string]any{"street": fmt.Sprintf("%d Canary Street %s-%s", n, cfg.run, tag), "city": "Leakville"},
		"city":    []string{"Lyon", "Oslo", "Rome"}[n%3],
		"rank":    float64(n),
		"kind":    tag,
	}
	canaries(d["ssn"].(string), d["email"].(string), d["address"].(map[string]any)["street"].(string))
	return d
}

// normal round-trips a value through JSON, so written and read values compare alike.
func normal(v any) doc {
	b := must(json.Marshal(v))
	var out doc
	must(0, json.Unmarshal(b, &out))
	for k := range out {
		if strings.HasPrefix(k, "_") {
			delete(out, k)
		}
	}
	return out
}

func parse(b []byte) doc {
	var out doc
	must(0, json.Unmarshal(b, &out))
	return normal(out)
}

func assertSame(got []byte, want doc) {
	g := parse(got)
	check(reflect.DeepEqual(g, normal(want)), "read back %v != written %v", g, want)
}

func assertCiphertext(coll string, d doc) {
	s := stored(coll, d["id"].(string), d["tenant"].(string))
	check(s != nil, "%s is not stored upstream", d["id"])
	for _, k := range protected {
		v, ok := s[k].(string)
		check(ok && strings.HasPrefix(v, envelope), "stored %s/%s is not an envelope: %v", d["id"], k, s[k])
	}
	w := normal(d)
	for k, v := range w {
		if k == "ssn" || k == "email" || k == "address" {
			continue
		}
		check(reflect.DeepEqual(s[k], v), "stored %s/%s: %v != %v", d["id"], k, s[k], v)
	}
}

func ids(docs []doc) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, d["id"].(string))
	}
	sort.Strings(out)
	return out
}

func sortedDocs(l []doc) []doc {
	out := make([]doc, len(l))
	for i, d := range l {
		out[i] = normal(d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

// --- clients -----------------------------------------------------------------------------------

func newClient(endpoint string) *azcosmos.Client {
	pem := must(os.ReadFile(cfg.caFile))
	pool := x509.NewCertPool()
	check(pool.AppendCertsFromPEM(pem), "no certificate in %s", cfg.caFile)
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cred := must(azcosmos.NewKeyCredential(cfg.key))
	return must(azcosmos.NewClientWithKey(endpoint, cred, &azcosmos.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}}))
}

func container(name string) *azcosmos.ContainerClient { return must(db.NewContainer(name)) }

// scenarioCtx bounds every SDK call of the running scenario (runScenario sets it).
var scenarioCtx = context.Background()

func ctx() context.Context { return scenarioCtx }

var writeOpts = &azcosmos.ItemOptions{EnableContentResponseOnWrite: true}

func create(c *azcosmos.ContainerClient, d doc) azcosmos.ItemResponse {
	return must(c.CreateItem(ctx(), azcosmos.NewPartitionKeyString(d["tenant"].(string)), must(json.Marshal(d)), writeOpts))
}

func read(c *azcosmos.ContainerClient, id, pk string) []byte {
	return must(c.ReadItem(ctx(), azcosmos.NewPartitionKeyString(pk), id, nil)).Value
}

// --- scenarios ---------------------------------------------------------------------------------

func sAccountDiscovery() {
	// The client reads GET / and then sends everything where it pointed: the launcher fails the
	// run if any request reached the upstream other than through cosmoseal.
	c := newClient(cfg.endpoint)
	d := must(c.NewDatabase(cfg.database))
	must(d.Read(ctx(), nil))
}

func sCrud() {
	c := container("crud")
	pk := azcosmos.NewPartitionKeyString("t-crud")
	d := makeDoc("crud", 1, "t-crud")
	assertSame(create(c, d).Value, d)
	assertCiphertext("crud", d)
	d["rank"] = float64(100)
	d["ssn"] = d["ssn"].(string) + "-r"
	canaries(d["ssn"].(string))
	assertSame(must(c.ReplaceItem(ctx(), pk, "crud-1", must(json.Marshal(d)), writeOpts)).Value, d)
	assertCiphertext("crud", d)
	d["email"] = "upsert." + d["email"].(string)
	canaries(d["email"].(string))
	assertSame(must(c.UpsertItem(ctx(), pk, must(json.Marshal(d)), writeOpts)).Value, d)
	assertCiphertext("crud", d)
	fresh := makeDoc("crud", 2, "t-crud")
	assertSame(must(c.UpsertItem(ctx(), pk, must(json.Marshal(fresh)), writeOpts)).Value, fresh)
	assertCiphertext("crud", fresh)
	p := azcosmos.PatchOperations{}
	p.AppendReplace("/rank", 7)
	must(c.PatchItem(ctx(), pk, "crud-1", p, nil))
	d["rank"] = float64(7)
	assertSame(read(c, "crud-1", "t-crud"), d)
	assertCiphertext("crud", d)
	must(c.DeleteItem(ctx(), pk, "crud-1", nil))
	must(c.DeleteItem(ctx(), pk, "crud-2", nil))
	check(stored("crud", "crud-1", "t-crud") == nil, "deleted document still stored")
}

func sPatchProtected() {
	c := container("crud")
	d := makeDoc("patchp", 1, "t-patchp")
	create(c, d)
	v := fmt.Sprintf("SSN-%s-%s-patched", sdkName, cfg.run)
	canaries(v)
	p := azcosmos.PatchOperations{}
	p.AppendSet("/ssn", v)
	must(c.PatchItem(ctx(), azcosmos.NewPartitionKeyString("t-patchp"), "patchp-1", p, nil))
	d["ssn"] = v
	assertSame(read(c, "patchp-1", "t-patchp"), d)
	assertCiphertext("crud", d)
}

func sPointRead() {
	c := container("crud")
	d := makeDoc("point", 1, "t-point")
	create(c, d)
	assertSame(read(c, "point-1", "t-point"), d)
	assertCiphertext("crud", d)
}

var queryDocs []doc

func getQueryDocs() []doc {
	if queryDocs == nil {
		c := container("query")
		for n := 0; n < 9; n++ {
			d := makeDoc("q", n, fmt.Sprintf("t-q%d", n%3))
			create(c, d)
			queryDocs = append(queryDocs, d)
		}
		for _, d := range queryDocs {
			assertCiphertext("query", d)
		}
	}
	return queryDocs
}

// query runs a query to the end; an empty partition key means cross-partition.
func query(sql string, pk azcosmos.PartitionKey, o *azcosmos.QueryOptions) []doc {
	out := []doc{}
	pager := container("query").NewQueryItemsPager(sql, pk, o)
	for pager.More() {
		page := must(pager.NextPage(ctx()))
		for _, it := range page.Items {
			var v any
			must(0, json.Unmarshal(it, &v))
			if m, ok := v.(map[string]any); ok {
				out = append(out, normal(m))
			} else {
				out = append(out, doc{"value": v})
			}
		}
	}
	return out
}

func sQueryEquality() {
	want := getQueryDocs()[4]
	got := query("SELECT * FROM c WHERE c.ssn = @ssn", azcosmos.NewPartitionKey(),
		&azcosmos.QueryOptions{QueryParameters: []azcosmos.QueryParameter{{Name: "@ssn", Value: want["ssn"]}}})
	check(reflect.DeepEqual(sortedDocs(got), []doc{normal(want)}), "parameterized equality: %v", got)
	got = query(fmt.Sprintf("SELECT * FROM c WHERE c.email = '%s'", want["email"]), azcosmos.NewPartitionKey(), nil)
	check(reflect.DeepEqual(sortedDocs(got), []doc{normal(want)}), "literal equality: %v", got)
}

func sQueryIn() {
	docs := getQueryDocs()
	got := query(fmt.Sprintf("SELECT c.id FROM c WHERE c.ssn IN ('%s', '%s')", docs[1]["ssn"], docs[5]["ssn"]), azcosmos.NewPartitionKey(), nil)
	check(reflect.DeepEqual(ids(got), []string{"q-1", "q-5"}), "IN: %v", got)
}

func sQueryProjection() {
	d := getQueryDocs()[2]
	got := query("SELECT c.id, c.ssn, c.address, c.city FROM c WHERE c.id = @id", azcosmos.NewPartitionKeyString(d["tenant"].(string)),
		&azcosmos.QueryOptions{QueryParameters: []azcosmos.QueryParameter{{Name: "@id", Value: d["id"]}}})
	want := normal(doc{"id": d["id"], "ssn": d["ssn"], "address": d["address"], "city": d["city"]})
	check(len(got) == 1 && reflect.DeepEqual(got[0], want), "projection: %v", got)
}

func sQueryOrderByInPartition() {
	docs := getQueryDocs()
	got := query("SELECT c.id, c.rank FROM c WHERE c.kind = 'q' AND c.tenant = 't-q1' ORDER BY c.rank DESC", azcosmos.NewPartitionKeyString("t-q1"), nil)
	want := []string{}
	for i := len(docs) - 1; i >= 0; i-- {
		if docs[i]["tenant"] == "t-q1" {
			want = append(want, docs[i]["id"].(string))
		}
	}
	gotIds := []string{}
	for _, g := range got {
		gotIds = append(gotIds, fmt.Sprint(g["id"]))
	}
	check(reflect.DeepEqual(gotIds, want), "ORDER BY: %v", gotIds)
}

func sQueryCountInPartition() {
	n := 0
	for _, d := range getQueryDocs() {
		if d["city"] == "Oslo" && d["tenant"] == "t-q1" {
			n++
		}
	}
	got := query("SELECT VALUE COUNT(1) FROM c WHERE c.city = 'Oslo' AND c.tenant = 't-q1'", azcosmos.NewPartitionKeyString("t-q1"), nil)
	check(len(got) == 1 && got[0]["value"] == float64(n), "COUNT: %v (want %d)", got, n)
}

func sQueryContinuation() {
	docs := getQueryDocs()
	sql := "SELECT * FROM c WHERE c.kind = 'q'"
	pager := container("query").NewQueryItemsPager(sql, azcosmos.NewPartitionKey(), &azcosmos.QueryOptions{PageSizeHint: 2})
	first := must(pager.NextPage(ctx()))
	check(first.ContinuationToken != nil, "no continuation after the first page (%d items)", len(first.Items))
	seen := []doc{}
	for _, it := range first.Items {
		seen = append(seen, parse(it))
	}
	seen = append(seen, query(sql, azcosmos.NewPartitionKey(), &azcosmos.QueryOptions{PageSizeHint: 2, ContinuationToken: first.ContinuationToken})...)
	check(reflect.DeepEqual(sortedDocs(seen), sortedDocs(docs)), "pages gave %v", ids(seen))
}

var feedDocs []doc

func getFeedDocs() []doc {
	if feedDocs == nil {
		for n := 0; n < 4; n++ {
			d := makeDoc("f", n, fmt.Sprintf("t-f%d", n%2))
			create(container("feed"), d)
			feedDocs = append(feedDocs, d)
		}
	}
	return feedDocs
}

func sReadFeed() {
	docs := getFeedDocs()
	got := []doc{}
	pager := container("feed").NewQueryItemsPager("SELECT * FROM c", azcosmos.NewPartitionKey(), &azcosmos.QueryOptions{PageSizeHint: 2})
	for pager.More() {
		for _, it := range must(pager.NextPage(ctx())).Items {
			got = append(got, parse(it))
		}
	}
	check(reflect.DeepEqual(sortedDocs(got), sortedDocs(docs)), "read feed: %v", ids(got))
}

func changeFeed(o *azcosmos.ChangeFeedOptions) ([]doc, string) {
	got := []doc{}
	token := ""
	for i := 0; i < 20; i++ {
		r := must(container("feed").ReadChangeFeed(ctx(), o))
		for _, it := range r.Items {
			got = append(got, parse(it))
		}
		if r.ContinuationToken != "" {
			token = r.ContinuationToken
		}
		if r.Count == 0 || r.ContinuationToken == "" {
			break
		}
		t := r.ContinuationToken
		o = &azcosmos.ChangeFeedOptions{Continuation: &t, FeedRange: o.FeedRange}
	}
	return got, token
}

func sChangeFeedBeginning() {
	docs := getFeedDocs()
	ranges := must(container("feed").ReadFeedRanges(ctx(), nil))
	got := []doc{}
	for i := range ranges {
		g, _ := changeFeed(&azcosmos.ChangeFeedOptions{FeedRange: &ranges[i]})
		got = append(got, g...)
	}
	check(reflect.DeepEqual(sortedDocs(got), sortedDocs(docs)), "change feed: %v", ids(got))
}

func sChangeFeedIncremental() {
	getFeedDocs()
	ranges := must(container("feed").ReadFeedRanges(ctx(), nil))
	tokens := make([]string, len(ranges))
	for i := range ranges {
		_, tokens[i] = changeFeed(&azcosmos.ChangeFeedOptions{FeedRange: &ranges[i]})
		check(tokens[i] != "", "no continuation from the change feed of range %d", i)
	}
	d := makeDoc("f", 10, "t-f0")
	create(container("feed"), d)
	got := []doc{}
	for i := range ranges {
		g, _ := changeFeed(&azcosmos.ChangeFeedOptions{Continuation: &tokens[i], FeedRange: &ranges[i]})
		got = append(got, g...)
	}
	check(reflect.DeepEqual(sortedDocs(got), []doc{normal(d)}), "incremental change feed: %v", ids(got))
}

func sChangeFeedFeedRange() {
	docs := getFeedDocs()
	ranges := must(container("feed").ReadFeedRanges(ctx(), nil))
	check(len(ranges) > 0, "no feed ranges")
	seen := map[string]bool{}
	for i := range ranges {
		g, _ := changeFeed(&azcosmos.ChangeFeedOptions{FeedRange: &ranges[i]})
		for _, d := range g {
			seen[d["id"].(string)] = true
		}
	}
	for _, d := range docs {
		check(seen[d["id"].(string)], "per-range change feed misses %s", d["id"])
	}
}

func sTransactionalBatch() {
	c := container("batch")
	a := makeDoc("b", 1, "t-b")
	b := makeDoc("b", 2, "t-b")
	batch := c.NewTransactionalBatch(azcosmos.NewPartitionKeyString("t-b"))
	batch.CreateItem(must(json.Marshal(a)), nil)
	batch.UpsertItem(must(json.Marshal(b)), nil)
	batch.ReadItem("b-1", nil)
	r := must(c.ExecuteTransactionalBatch(ctx(), batch, nil))
	check(r.Success, "batch failed: %+v", r.OperationResults)
	assertSame(r.OperationResults[2].ResourceBody, a)
	assertCiphertext("batch", a)
	assertCiphertext("batch", b)
}

func sReadMany() {
	c := container("many")
	docs := []doc{}
	idents := []azcosmos.ItemIdentity{}
	for n := 0; n < 3; n++ {
		t := fmt.Sprintf("t-m%d", n)
		d := makeDoc("m", n, t)
		create(c, d)
		docs = append(docs, d)
		idents = append(idents, azcosmos.ItemIdentity{ID: d["id"].(string), PartitionKey: azcosmos.NewPartitionKeyString(t)})
	}
	r := must(c.ReadManyItems(ctx(), idents, nil))
	got := []doc{}
	for _, it := range r.Items {
		got = append(got, parse(it))
	}
	check(reflect.DeepEqual(sortedDocs(got), sortedDocs(docs)), "read many: %v", ids(got))
}

func sSessionConsistency() {
	s := newClient(cfg.endpoint)
	c := must(s.NewContainer(cfg.database, "session"))
	d := makeDoc("s", 1, "t-s")
	w := create(c, d)
	check(cfg.standin || (w.SessionToken != nil && *w.SessionToken != ""), "no session token on the write")
	pk := azcosmos.NewPartitionKeyString("t-s")
	assertSame(must(c.ReadItem(ctx(), pk, "s-1", &azcosmos.ItemOptions{SessionToken: w.SessionToken})).Value, d)
	d["rank"] = float64(42)
	must(c.ReplaceItem(ctx(), pk, "s-1", must(json.Marshal(d)), nil))
	assertSame(must(c.ReadItem(ctx(), pk, "s-1", nil)).Value, d)
}

func sThrottle429Retried() {
	c := container("throttle")
	d := makeDoc("t", 1, "t-t")
	create(c, d)
	before := len(must(control("GET", "/throttled", nil))["served"].([]any))
	must(control("POST", "/throttle", map[string]any{"count": 2, "method": "GET", "pathContains": "/colls/throttle/docs/", "retryAfterMs": 50}))
	assertSame(read(c, "t-1", "t-t"), d)
	served := len(must(control("GET", "/throttled", nil))["served"].([]any)) - before
	check(served == 2, "the upstream answered 429 %d times, expected 2", served)
}

var scenarios = []struct {
	name string
	fn   func()
}{
	{"account_discovery", sAccountDiscovery},
	{"crud", sCrud},
	{"patch_protected", sPatchProtected},
	{"point_read", sPointRead},
	{"query_equality", sQueryEquality},
	{"query_in", sQueryIn},
	{"query_projection", sQueryProjection},
	{"query_order_by_in_partition", sQueryOrderByInPartition},
	{"query_count_in_partition", sQueryCountInPartition},
	{"query_continuation", sQueryContinuation},
	{"read_feed", sReadFeed},
	{"change_feed_beginning", sChangeFeedBeginning},
	{"change_feed_incremental", sChangeFeedIncremental},
	{"change_feed_feed_range", sChangeFeedFeedRange},
	{"transactional_batch", sTransactionalBatch},
	{"read_many", sReadMany},
	{"session_consistency", sSessionConsistency},
	{"throttle_429_retried", sThrottle429Retried},
}

// --- protected partition keys (tests/sdk/README.md, "Protected partition keys") ------------------
// Containers whose partition key is a deterministic protected field, on the simulator (3 ranges per
// container): ppk_str (/cust), ppk_num (/acct, a number), ppk_h (/tenant + /cust, MultiHash v2).
// Each cell either works (results asserted) or is refused by cosmoseal with a stable detail code:
// never a silently wrong answer. azcosmos sends the key itself on every call below, so every cell
// must work.

var ppkContainers = []string{"ppk_str", "ppk_num", "ppk_h"}
var ppkCells = []string{"crud", "point_read", "query_pk", "query_cross_partition_pk_where", "read_feed",
	"change_feed_beginning", "change_feed_feed_range", "read_many",
	"transactional_batch", "prefix_query", "session_consistency"}

const ppkKeys = 16 // keys per container: with 3 ranges, every range holds some (asserted)

// ppk_h: the MultiHash EPK starts with hash(tenant), so the tenant picks the range; these four land
// in each of the simulator's 3 ranges (t0, t2: the first; t10: the second; t1: the third).
var tenants = []string{"t0", "t1", "t2", "t10"}
var nums = []float64{5, 7.25, -3, 0.5, 12, 100, 1000000, 42.125, -0.75, 3, 2.5, 64, 1e-3, 999, 7, 13.5}

// ppkGaps: protected-pk cells that fail against cosmoseal at main (README "Protected partition
// keys"); run last and reported, not asserted, unless COSMOSEAL_SDK_STRICT=1.
var ppkGaps = map[string]string{}

// (ppk_h is spared: its range is decided by the unprotected tenant, which the SDK hashes right.)
var ppkDocsOf = map[string][]doc{}

// azcosmos v1.5.0 reads a change feed per FeedRange and, given a PartitionKey too, sends the key
// with the id of every range the FeedRange overlaps. The range that holds a key is unknown to an app
// that does not hash it; with the whole container as the FeedRange the ranges that do not hold the key
// answer 410 (seen on ppk_h, whose range the unprotected tenant decides, so not cosmoseal's doing).
const changeFeedPerKey = "azcosmos needs the FeedRange holding the key, which an app cannot name without hashing the plaintext key"

func ppkKeyField(cname string) string {
	if cname == "ppk_num" {
		return "acct"
	}
	return "cust"
}

func ppkPK(cname string, d doc) azcosmos.PartitionKey {
	switch cname {
	case "ppk_str":
		return azcosmos.NewPartitionKeyString(d["cust"].(string))
	case "ppk_num":
		return azcosmos.NewPartitionKeyNumber(d["acct"].(float64))
	}
	return azcosmos.NewPartitionKeyString(d["tenant"].(string)).AppendString(d["cust"].(string))
}

// ppkDoc: a document whose protected values (the key included) are canaries; key nil = its own.
func ppkDoc(cname string, i int, kind string, key any) doc {
	d := doc{
		"id":      fmt.Sprintf("%s-%s-%d", cname, kind, i),
		"ssn":     fmt.Sprintf("SSN-%s-%s-%s-%s-%d", sdkName, cfg.run, cname, kind, i),
		"address": map[string]any{"street": fmt.Sprintf("%d Canary Road %s-%s-%s", i, cfg.run, cname, kind), "city": "Leakville"},
		"rank":    float64(i),
		"kind":    kind,
	}
	if cname == "ppk_num" {
		if key == nil {
			key = nums[i%len(nums)]
		}
		d["acct"] = key
		must(control("POST", "/pk-canaries", []any{key}))
	} else {
		if key == nil {
			key = fmt.Sprintf("CUST-%s-%s-%s-%s-%d", sdkName, cfg.run, cname, kind, i)
		}
		d["cust"] = key
		must(control("POST", "/pk-canaries", []any{key}))
		canaries(key.(string))
		if cname == "ppk_h" {
			d["tenant"] = tenants[i%len(tenants)]
		}
	}
	canaries(d["ssn"].(string), d["address"].(map[string]any)["street"].(string))
	return d
}

var sealed = map[string]bool{"cust": true, "acct": true, "ssn": true, "address": true}

func ppkAssertStored(cname string, d doc) {
	m := must(control("GET", "/stored", nil, "coll", cname, "id", d["id"].(string)))
	s, _ := m["doc"].(map[string]any)
	check(s != nil, "%s/%s is not stored upstream", cname, d["id"])
	for k := range d {
		if sealed[k] {
			v, ok := s[k].(string)
			check(ok && strings.HasPrefix(v, envelope), "stored %s/%s is not an envelope: %v", d["id"], k, s[k])
		}
	}
	for k, v := range normal(d) {
		if !sealed[k] {
			check(reflect.DeepEqual(s[k], v), "stored %s/%s: %v != %v", d["id"], k, s[k], v)
		}
	}
}

func ppkDocs(cname string) []doc {
	if ppkDocsOf[cname] == nil {
		c := container(cname)
		docs := []doc{}
		for i := 0; i < ppkKeys; i++ {
			docs = append(docs, ppkDoc(cname, i, "base", nil))
		}
		for _, d := range docs {
			assertSame(must(c.CreateItem(ctx(), ppkPK(cname, d), must(json.Marshal(d)), writeOpts)).Value, d)
		}
		ppkDocsOf[cname] = docs
	}
	return ppkDocsOf[cname]
}

func baseOnly(l []doc) []doc {
	out := []doc{}
	for _, d := range l {
		if d["kind"] == "base" {
			out = append(out, d)
		}
	}
	return sortedDocs(out)
}

func queryIn(cname, sql string, pk azcosmos.PartitionKey, o *azcosmos.QueryOptions) []doc {
	out := []doc{}
	pager := container(cname).NewQueryItemsPager(sql, pk, o)
	for pager.More() {
		for _, it := range must(pager.NextPage(ctx())).Items {
			out = append(out, parse(it))
		}
	}
	return out
}

func ppkChangeFeed(cname string, o azcosmos.ChangeFeedOptions) []doc {
	got := []doc{}
	for i := 0; i < 50; i++ {
		r := must(container(cname).ReadChangeFeed(ctx(), &o))
		for _, it := range r.Items {
			got = append(got, parse(it))
		}
		if r.Count == 0 || r.ContinuationToken == "" {
			break
		}
		t := r.ContinuationToken
		o.Continuation = &t
	}
	return got
}

var ppkCell = map[string]func(cname string){
	"crud": func(cname string) {
		c := container(cname)
		docs := ppkDocs(cname)
		for _, d := range docs {
			ppkAssertStored(cname, d)
		}
		counts, _ := must(control("GET", "/range-counts", nil, "coll", cname))["counts"].(map[string]any)
		ok := len(counts) >= 3
		for _, n := range counts {
			ok = ok && n.(float64) > 0
		}
		check(ok, "documents per range: %v", counts)
		x := ppkDoc(cname, 1, "extra", nil)
		pk := ppkPK(cname, x)
		id := x["id"].(string)
		assertSame(must(c.CreateItem(ctx(), pk, must(json.Marshal(x)), writeOpts)).Value, x)
		x["rank"] = float64(100)
		x["ssn"] = x["ssn"].(string) + "-r"
		canaries(x["ssn"].(string))
		assertSame(must(c.ReplaceItem(ctx(), pk, id, must(json.Marshal(x)), writeOpts)).Value, x)
		x["rank"] = float64(101)
		assertSame(must(c.UpsertItem(ctx(), pk, must(json.Marshal(x)), writeOpts)).Value, x)
		p := azcosmos.PatchOperations{}
		p.AppendReplace("/rank", 7)
		must(c.PatchItem(ctx(), pk, id, p, nil))
		x["rank"] = float64(7)
		assertSame(must(c.ReadItem(ctx(), pk, id, nil)).Value, x)
		ppkAssertStored(cname, x)
		must(c.DeleteItem(ctx(), pk, id, nil))
		check(must(control("GET", "/stored", nil, "coll", cname, "id", id))["doc"] == nil, "deleted document still stored")
		_, err := c.ReadItem(ctx(), pk, id, nil)
		var re *azcore.ResponseError
		check(errors.As(err, &re) && re.StatusCode == 404, "a deleted document was read back: %v", err)
	},
	"point_read": func(cname string) {
		c := container(cname)
		for _, d := range ppkDocs(cname) {
			assertSame(must(c.ReadItem(ctx(), ppkPK(cname, d), d["id"].(string), nil)).Value, d)
		}
	},
	"query_pk": func(cname string) {
		for _, d := range ppkDocs(cname)[:6] {
			got := baseOnly(queryIn(cname, "SELECT * FROM c WHERE c.kind = 'base'", ppkPK(cname, d), nil))
			check(reflect.DeepEqual(got, []doc{normal(d)}), "pk of %s: %v", d["id"], ids(got))
		}
	},
	"query_cross_partition_pk_where": func(cname string) {
		docs := ppkDocs(cname)
		f := ppkKeyField(cname)
		for _, d := range docs[:4] {
			got := baseOnly(queryIn(cname, "SELECT * FROM c WHERE c."+f+" = @v", azcosmos.NewPartitionKey(),
				&azcosmos.QueryOptions{QueryParameters: []azcosmos.QueryParameter{{Name: "@v", Value: d[f]}}}))
			check(reflect.DeepEqual(got, []doc{normal(d)}), "%s = %v: %v", f, d[f], ids(got))
		}
		lit := string(must(json.Marshal(docs[1][f])))
		got := baseOnly(queryIn(cname, "SELECT * FROM c WHERE c."+f+" = "+lit, azcosmos.NewPartitionKey(), nil))
		check(reflect.DeepEqual(got, []doc{normal(docs[1])}), "%s = %s (literal): %v", f, lit, ids(got))
	},
	"read_feed": func(cname string) {
		docs := ppkDocs(cname)
		got := baseOnly(queryIn(cname, "SELECT * FROM c", azcosmos.NewPartitionKey(), &azcosmos.QueryOptions{PageSizeHint: 5}))
		check(reflect.DeepEqual(got, sortedDocs(docs)), "read feed: %d of %d", len(got), len(docs))
	},
	"change_feed_beginning": func(cname string) {
		docs := ppkDocs(cname)
		// azcosmos reads a change feed per FeedRange: the whole container is the range ["", "FF").
		got := baseOnly(ppkChangeFeed(cname, azcosmos.ChangeFeedOptions{FeedRange: &azcosmos.FeedRange{MinInclusive: "", MaxExclusive: "FF"}}))
		check(reflect.DeepEqual(got, sortedDocs(docs)), "change feed: %d of %d", len(got), len(docs))
	},
	"change_feed_feed_range": func(cname string) {
		docs := ppkDocs(cname)
		ranges := must(container(cname).ReadFeedRanges(ctx(), nil))
		check(len(ranges) >= 3, "%d feed ranges", len(ranges))
		all := []doc{}
		for i := range ranges {
			all = append(all, ppkChangeFeed(cname, azcosmos.ChangeFeedOptions{FeedRange: &ranges[i]})...)
		}
		got := baseOnly(all)
		check(reflect.DeepEqual(got, sortedDocs(docs)), "per-range change feed: %d of %d", len(got), len(docs))
	},
	"read_many": func(cname string) {
		docs := ppkDocs(cname)
		idents := []azcosmos.ItemIdentity{}
		for _, d := range docs {
			idents = append(idents, azcosmos.ItemIdentity{ID: d["id"].(string), PartitionKey: ppkPK(cname, d)})
		}
		r := must(container(cname).ReadManyItems(ctx(), idents, nil))
		got := []doc{}
		for _, it := range r.Items {
			got = append(got, parse(it))
		}
		check(reflect.DeepEqual(baseOnly(got), sortedDocs(docs)), "read many: %d of %d", len(baseOnly(got)), len(docs))
	},
	"transactional_batch": func(cname string) {
		c := container(cname)
		a := ppkDoc(cname, 20, "batch", nil)
		b := ppkDoc(cname, 21, "batch", a[ppkKeyField(cname)])
		if cname == "ppk_h" {
			b["tenant"] = a["tenant"]
		}
		pk := ppkPK(cname, a)
		batch := c.NewTransactionalBatch(pk)
		batch.CreateItem(must(json.Marshal(a)), nil)
		batch.UpsertItem(must(json.Marshal(b)), nil)
		batch.ReadItem(a["id"].(string), nil)
		r := must(c.ExecuteTransactionalBatch(ctx(), batch, nil))
		check(r.Success, "batch failed: %+v", r.OperationResults)
		assertSame(r.OperationResults[2].ResourceBody, a)
		assertSame(must(c.ReadItem(ctx(), pk, b["id"].(string), nil)).Value, b)
		ppkAssertStored(cname, a)
		ppkAssertStored(cname, b)
	},
	"prefix_query": func(cname string) {
		docs := ppkDocs(cname)
		for _, t := range tenants {
			got := baseOnly(queryIn(cname, "SELECT * FROM c", azcosmos.NewPartitionKeyString(t), nil))
			want := []doc{}
			for _, d := range docs {
				if d["tenant"] == t {
					want = append(want, d)
				}
			}
			check(reflect.DeepEqual(got, sortedDocs(want)), "prefix [%s]: %v != %v", t, ids(got), ids(want))
		}
	},
	"session_consistency": func(cname string) {
		docs := ppkDocs(cname)
		c := must(newClient(cfg.endpoint).NewContainer(cfg.database, cname))
		for i, d := range docs {
			s := ppkDoc(cname, 40+i, "session", d[ppkKeyField(cname)])
			if cname == "ppk_h" {
				s["tenant"] = d["tenant"]
			}
			pk := ppkPK(cname, s)
			id := s["id"].(string)
			w := must(c.CreateItem(ctx(), pk, must(json.Marshal(s)), writeOpts))
			check(w.SessionToken != nil && *w.SessionToken != "", "no session token on the write")
			assertSame(must(c.ReadItem(ctx(), pk, id, &azcosmos.ItemOptions{SessionToken: w.SessionToken})).Value, s)
			s["rank"] = float64(1000 + i)
			must(c.ReplaceItem(ctx(), pk, id, must(json.Marshal(s)), nil))
			assertSame(must(c.ReadItem(ctx(), pk, id, nil)).Value, s)
		}
	},
}

func ppkScenarios() []struct {
	name string
	fn   func()
} {
	out := []struct {
		name string
		fn   func()
	}{}
	for _, cname := range ppkContainers {
		for _, cell := range ppkCells {
			if cell == "prefix_query" && cname != "ppk_h" {
				continue
			}
			cname, f := cname, ppkCell[cell]
			out = append(out, struct {
				name string
				fn   func()
			}{cname + "." + cell, func() { f(cname) }})
		}
	}
	return out
}

func setupPpk() {
	info := must(control("GET", "/info", nil))
	for _, raw := range info["ppk"].([]any) {
		c := raw.(map[string]any)
		paths := []string{}
		for _, p := range c["paths"].([]any) {
			paths = append(paths, p.(string))
		}
		def := azcosmos.PartitionKeyDefinition{Paths: paths, Version: 2}
		if c["kind"] == "MultiHash" {
			def.Kind = azcosmos.PartitionKeyKindMultiHash
		}
		props := azcosmos.ContainerProperties{ID: c["name"].(string), PartitionKeyDefinition: def}
		if _, err := db.CreateContainer(ctx(), props, nil); err != nil {
			var re *azcore.ResponseError
			check(errors.As(err, &re) && re.StatusCode == 409, "create container %s: %v", c["name"], err)
		}
	}
}

// --- runner ------------------------------------------------------------------------------------

func describe(v any) string {
	err, ok := v.(error)
	if !ok {
		return fmt.Sprint(v)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		detail := ""
		line := ""
		if re.RawResponse != nil {
			detail = re.RawResponse.Header.Get("x-cosmoseal-detail")
			if re.RawResponse.Request != nil {
				line = re.RawResponse.Request.Method + " " + re.RawResponse.Request.URL.Path
			}
		}
		msg := strings.Join(strings.Fields(err.Error()), " ")
		if len(msg) > 400 {
			msg = msg[:400]
		}
		return fmt.Sprintf("HTTP %d %s on %s: %s", re.StatusCode, detail, line, msg)
	}
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

func runScenario(fn func()) (err any) {
	c, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	scenarioCtx = c
	defer cancel()
	defer func() { err = recover() }()
	fn()
	assertNoCanaryHits()
	return nil
}

func report(scenario, status string, ms int64, detail string) {
	if cfg.report == "" {
		return
	}
	b, _ := json.Marshal(map[string]any{"sdk": sdkName, "version": "azcosmos v1.5.0", "scenario": scenario, "status": status, "ms": ms, "detail": detail})
	f, err := os.OpenFile(cfg.report, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}

func notAsserted(name string) (bool, string) {
	if cfg.strict {
		return false, ""
	}
	if knownProductGaps[name] {
		return true, "gap"
	}
	if _, ok := ppkGaps[name]; ok {
		return true, "gap"
	}
	if _, ok := standinLimits[name]; ok && cfg.standin {
		return true, "standin"
	}
	return false, ""
}

func TestMatrix(t *testing.T) {
	cfg = env{
		endpoint: os.Getenv("COSMOSEAL_SDK_ENDPOINT"), key: os.Getenv("COSMOSEAL_SDK_KEY"),
		caFile: os.Getenv("COSMOSEAL_SDK_CA_FILE"), control: os.Getenv("COSMOSEAL_SDK_CONTROL"),
		database: os.Getenv("COSMOSEAL_SDK_DATABASE"), run: os.Getenv("COSMOSEAL_SDK_RUN_ID"),
		report: os.Getenv("COSMOSEAL_SDK_REPORT"), strict: os.Getenv("COSMOSEAL_SDK_STRICT") == "1",
		standin: os.Getenv("COSMOSEAL_SDK_UPSTREAM_KIND") == "" || os.Getenv("COSMOSEAL_SDK_UPSTREAM_KIND") == "standin",
	}
	if cfg.endpoint == "" || cfg.control == "" {
		t.Fatal("COSMOSEAL_SDK_* are not set: run this suite through tests/sdk/lib/run.mjs")
	}
	if e := runScenario(func() {
		client = newClient(cfg.endpoint)
		if _, err := client.CreateDatabase(ctx(), azcosmos.DatabaseProperties{ID: cfg.database}, nil); err != nil {
			var re *azcore.ResponseError
			check(errors.As(err, &re) && re.StatusCode == 409, "create database: %v", err)
		}
		db = must(client.NewDatabase(cfg.database))
		info := must(control("GET", "/info", nil))
		for _, c := range info["containers"].([]any) {
			props := azcosmos.ContainerProperties{ID: c.(string), PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/tenant"}}}
			if _, err := db.CreateContainer(ctx(), props, nil); err != nil {
				var re *azcore.ResponseError
				check(errors.As(err, &re) && re.StatusCode == 409, "create container %s: %v", c, err)
			}
		}
		if os.Getenv("COSMOSEAL_SDK_PPK") == "1" {
			setupPpk()
			scenarios = append(scenarios, ppkScenarios()...)
			for _, c := range ppkContainers {
				notPossible[c+".bulk"] = notPossible["bulk"]
				notPossible[c+".change_feed_partition_key"] = changeFeedPerKey
			}
			if os.Getenv("COSMOSEAL_SDK_PPK_SURVEY") == "1" { // every ppk cell judged on its own (to fill ppkGaps)
				for _, s := range ppkScenarios() {
					ppkGaps[s.name] = "survey"
				}
			}
		}
	}); e != nil {
		t.Fatalf("setup: %s", describe(e))
	}
	for _, s := range scenarios {
		if skip, _ := notAsserted(s.name); skip {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			t0 := time.Now()
			if e := runScenario(s.fn); e != nil {
				report(s.name, "fail", time.Since(t0).Milliseconds(), describe(e))
				t.Fatal(describe(e))
			}
			report(s.name, "pass", time.Since(t0).Milliseconds(), "")
		})
	}
	// The known gaps and stand-in limits run last: reported, not asserted.
	for _, s := range scenarios {
		skip, kind := notAsserted(s.name)
		if !skip {
			continue
		}
		t0 := time.Now()
		e := runScenario(s.fn)
		// What a known gap leaked is reported by the launcher and taken back, so that the next one
		// starts clean (COSMOSEAL_SDK_STRICT=1 asserts it instead).
		must(control("POST", "/canary-hits/ack", map[string]any{"all": true, "scenario": s.name}))
		list, why := "KNOWN_PRODUCT_GAPS", ""
		if r, ok := ppkGaps[s.name]; ok {
			why = " [gap: " + r + "]"
		}
		if kind == "standin" {
			list, why = "STANDIN_LIMITS", " [stand-in: "+standinLimits[s.name]+"]"
		}
		if e != nil {
			t.Logf("%s %s: still fails: %s", list, s.name, describe(e))
			report(s.name, kind+"-fails", time.Since(t0).Milliseconds(), describe(e)+why)
		} else {
			t.Logf("%s %s: passes now: remove it from %s", list, s.name, list)
			report(s.name, kind+"-passes", time.Since(t0).Milliseconds(), why)
		}
	}
	for k, v := range notPossible {
		report(k, "n/a", 0, v)
	}
}
