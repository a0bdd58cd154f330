package dev.cosmoseal.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.cosmos.ConsistencyLevel;
import com.azure.cosmos.CosmosClient;
import com.azure.cosmos.CosmosClientBuilder;
import com.azure.cosmos.CosmosContainer;
import com.azure.cosmos.CosmosDatabase;
import com.azure.cosmos.CosmosException;
import com.azure.cosmos.models.CosmosBatch;
import com.azure.cosmos.models.CosmosBatchResponse;
import com.azure.cosmos.models.CosmosBulkOperationResponse;
import com.azure.cosmos.models.CosmosBulkOperations;
import com.azure.cosmos.models.CosmosChangeFeedRequestOptions;
import com.azure.cosmos.models.CosmosContainerProperties;
import com.azure.cosmos.models.CosmosItemIdentity;
import com.azure.cosmos.models.CosmosItemOperation;
import com.azure.cosmos.models.CosmosItemRequestOptions;
import com.azure.cosmos.models.CosmosItemResponse;
import com.azure.cosmos.models.CosmosPatchOperations;
import com.azure.cosmos.models.CosmosQueryRequestOptions;
import com.azure.cosmos.models.FeedRange;
import com.azure.cosmos.models.FeedResponse;
import com.azure.cosmos.models.PartitionKey;
import com.azure.cosmos.models.PartitionKeyBuilder;
import com.azure.cosmos.models.PartitionKeyDefinition;
import com.azure.cosmos.models.PartitionKind;
import com.azure.cosmos.models.SqlParameter;
import com.azure.cosmos.models.SqlQuerySpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

/**
 * The Java leg of the SDK conformance matrix (tests/sdk/README.md): the real azure-cosmos SDK in
 * gateway mode, over TLS (the test CA is trusted through the truststore the launcher writes), with
 * a client key, exactly as an app would use cosmoseal. Started by tests/sdk/lib/run.mjs, whose
 * control API (COSMOSEAL_SDK_CONTROL) tells what the upstream really stored and received.
 *
 * <p>Each scenario is one dynamic test. Scenarios in KNOWN_PRODUCT_GAPS fail today because of
 * product bugs (evidence in tests/sdk/README.md): they still run, after the others, and their
 * outcome is reported, not asserted, unless COSMOSEAL_SDK_STRICT=1. STANDIN_LIMITS are the same
 * for what today's stand-in upstream (cosmosdb-server) cannot serve.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MatrixTest {
  // Gap J1 (partition-key ranges read by RID, signed over the lowercased RID: 401) is fixed: the
  // whole matrix passes against the simulator. No known product gap is left for Java.
  static final Set<String> KNOWN_PRODUCT_GAPS = Set.of();
  // What cosmosdb-server (the stand-in) cannot serve to the Java SDK; the simulator serves it all.
  static final Map<String, String> STANDIN_LIMITS = Map.ofEntries(
      Map.entry("change_feed_incremental",
          "cosmosdb-server answers 304 to every If-None-Match change-feed read (S1)"),
      Map.entry("transactional_batch",
          "cosmosdb-server needs partitionKey inside each batch operation (S2)"),
      Map.entry("query_equality", "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("query_in", "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("query_projection", "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("query_order_by", "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("query_count", "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("query_continuation",
          "cosmosdb-server's query plan has no partition-key ranges (S4)"),
      Map.entry("change_feed_beginning",
          "cosmosdb-server sends no x-ms-alt-content-path, which the Java change feed needs (S5)"),
      Map.entry("change_feed_feed_range",
          "cosmosdb-server sends no x-ms-alt-content-path, which the Java change feed needs (S5)"));
  static final Map<String, String> NOT_POSSIBLE = Map.of();

  static final String SDK = "java";
  static final String ENVELOPE = "csx1:";
  static final List<String> PROTECTED = List.of("ssn", "email", "address");
  static final ObjectMapper JSON = new ObjectMapper();

  final String endpoint = env("COSMOSEAL_SDK_ENDPOINT");
  final String key = env("COSMOSEAL_SDK_KEY");
  final String control = env("COSMOSEAL_SDK_CONTROL");
  final String database = System.getenv().getOrDefault("COSMOSEAL_SDK_DATABASE", "shop");
  final String run = System.getenv().getOrDefault("COSMOSEAL_SDK_RUN_ID", "local");
  final String report = System.getenv("COSMOSEAL_SDK_REPORT");
  final boolean strict = "1".equals(System.getenv("COSMOSEAL_SDK_STRICT"));
  final boolean standin =
      System.getenv().getOrDefault("COSMOSEAL_SDK_UPSTREAM_KIND", "standin").equals("standin");
  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  final String version = CosmosClientBuilder.class.getPackage().getImplementationVersion();

  CosmosClient client;
  CosmosDatabase db;
  final List<ObjectNode> queryDocs = new ArrayList<>();
  final List<ObjectNode> feedDocs = new ArrayList<>();

  static String env(String name) {
    String v = System.getenv(name);
    if (v == null || v.isEmpty()) {
      throw new IllegalStateException(name + " is not set: run this suite through tests/sdk/lib/run.mjs");
    }
    return v;
  }

  // --- the control API ---------------------------------------------------------------------

  JsonNode control(String method, String path, Object body, String... query) {
    StringBuilder url = new StringBuilder(control.replaceAll("/$", "")).append(path);
    for (int i = 0; i < query.length; i += 2) {
      url.append(i == 0 ? '?' : '&').append(query[i]).append('=')
          .append(URLEncoder.encode(query[i + 1], StandardCharsets.UTF_8));
    }
    try {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url.toString())).timeout(Duration.ofSeconds(30));
      b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
          : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
      HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), "control " + path + ": " + r.body());
      return JSON.readTree(r.body());
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException("control " + path, e);
    }
  }

  JsonNode stored(String coll, String id, String pk) {
    return control("GET", "/stored", null, "coll", coll, "id", id, "pk", "\"" + pk + "\"").get("doc");
  }

  void assertNoCanaryHits() {
    JsonNode hits = control("GET", "/canary-hits", null);
    assertEquals(0, hits.size(), "protected plaintext reached the upstream: " + hits);
  }

  ObjectNode makeDoc(String tag, int n, String tenant) {
    ObjectNode d = JSON.createObjectNode();
    d.put("id", tag + "-" + n);
    d.put("tenant", tenant);
    d.put("ssn", "SSN-" + SDK + "-" + run + "-" + tag + "-" + n);
    d.put("email", "mail." + SDK + "." + tag + "." + n + "." + run + "@canary.example");
    d.putObject("address").put("street", n + " Canary Street " + run + "-" + tag).put("city", "Leakville");
    d.put("city", List.of("Lyon", "Oslo", "Rome").get(n % 3));
    d.put("rank", n);
    d.put("kind", tag);
    canaries(d.get("ssn").asText(), d.get("email").asText(), d.get("address").get("street").asText());
    return d;
  }

  void canaries(String... values) {
    control("POST", "/canaries", List.of(values));
  }

  static ObjectNode plain(JsonNode doc) {
    ObjectNode out = JSON.createObjectNode();
    doc.fields().forEachRemaining(e -> {
      if (!e.getKey().startsWith("_")) out.set(e.getKey(), e.getValue());
    });
    return out;
  }

  void assertCiphertext(String coll, ObjectNode doc) {
    JsonNode s = stored(coll, doc.get("id").asText(), doc.get("tenant").asText());
    assertTrue(s != null && !s.isNull(), doc.get("id") + " is not stored upstream");
    for (String k : PROTECTED) {
      assertTrue(s.path(k).isTextual() && s.get(k).asText().startsWith(ENVELOPE),
          "stored " + doc.get("id") + "/" + k + " is not an envelope: " + s.get(k));
    }
    doc.fields().forEachRemaining(e -> {
      if (!PROTECTED.contains(e.getKey())) {
        assertEquals(e.getValue(), s.get(e.getKey()), "stored " + doc.get("id") + "/" + e.getKey());
      }
    });
  }

  static void assertSame(JsonNode got, ObjectNode want) {
    assertEquals(want, plain(got), "read back differs from what was written");
  }

  static Comparator<JsonNode> byId() {
    return Comparator.comparing(n -> n.get("id").asText());
  }

  static List<JsonNode> sortedById(List<? extends JsonNode> l) {
    return l.stream().map(MatrixTest::plain).sorted(byId()).collect(Collectors.toList());
  }

  // --- setup ---------------------------------------------------------------------------------

  CosmosClient newClient(ConsistencyLevel level) {
    return new CosmosClientBuilder().endpoint(endpoint).key(key).gatewayMode()
        .consistencyLevel(level).contentResponseOnWriteEnabled(true).buildClient();
  }

  @BeforeAll
  void setUp() {
    client = newClient(ConsistencyLevel.SESSION);
    client.createDatabaseIfNotExists(database);
    db = client.getDatabase(database);
    for (JsonNode c : control("GET", "/info", null).get("containers")) {
      db.createContainerIfNotExists(c.asText(), "/tenant");
    }
    if (ppk) setUpPpk();
  }

  CosmosContainer container(String name) {
    return db.getContainer(name);
  }

  // --- scenarios -----------------------------------------------------------------------------

  void accountDiscovery() {
    // The client read GET / when it was built and now sends everything where it pointed: the
    // launcher fails the run if any request reached the upstream other than through cosmoseal.
    try (CosmosClient c = newClient(ConsistencyLevel.EVENTUAL)) {
      c.getDatabase(database).read();
    }
  }

  void crud() {
    CosmosContainer c = container("crud");
    ObjectNode d = makeDoc("crud", 1, "t-crud");
    PartitionKey pk = new PartitionKey("t-crud");
    assertSame(c.createItem(d, pk, new CosmosItemRequestOptions()).getItem(), d);
    assertCiphertext("crud", d);
    ObjectNode d2 = d.deepCopy();
    d2.put("rank", 100).put("ssn", d.get("ssn").asText() + "-r");
    canaries(d2.get("ssn").asText());
    assertSame(c.replaceItem(d2, "crud-1", pk, new CosmosItemRequestOptions()).getItem(), d2);
    assertCiphertext("crud", d2);
    ObjectNode d3 = d2.deepCopy();
    d3.put("email", "upsert." + d2.get("email").asText());
    canaries(d3.get("email").asText());
    assertSame(c.upsertItem(d3, pk, new CosmosItemRequestOptions()).getItem(), d3);
    assertCiphertext("crud", d3);
    ObjectNode fresh = makeDoc("crud", 2, "t-crud");
    assertSame(c.upsertItem(fresh, pk, new CosmosItemRequestOptions()).getItem(), fresh);
    assertCiphertext("crud", fresh);
    c.patchItem("crud-1", pk, CosmosPatchOperations.create().replace("/rank", 7), ObjectNode.class);
    d3.put("rank", 7);
    assertSame(c.readItem("crud-1", pk, ObjectNode.class).getItem(), d3);
    assertCiphertext("crud", d3);
    c.deleteItem("crud-1", pk, new CosmosItemRequestOptions());
    c.deleteItem("crud-2", pk, new CosmosItemRequestOptions());
    JsonNode gone = stored("crud", "crud-1", "t-crud");
    assertTrue(gone == null || gone.isNull(), "deleted document still stored");
  }

  void patchProtected() {
    CosmosContainer c = container("crud");
    ObjectNode d = makeDoc("patchp", 1, "t-patchp");
    PartitionKey pk = new PartitionKey("t-patchp");
    c.createItem(d, pk, new CosmosItemRequestOptions());
    String v = "SSN-" + SDK + "-" + run + "-patched";
    canaries(v);
    c.patchItem("patchp-1", pk, CosmosPatchOperations.create().set("/ssn", v), ObjectNode.class);
    d.put("ssn", v);
    assertSame(c.readItem("patchp-1", pk, ObjectNode.class).getItem(), d);
    assertCiphertext("crud", d);
  }

  void pointRead() {
    CosmosContainer c = container("crud");
    ObjectNode d = makeDoc("point", 1, "t-point");
    c.createItem(d, new PartitionKey("t-point"), new CosmosItemRequestOptions());
    assertSame(c.readItem("point-1", new PartitionKey("t-point"), ObjectNode.class).getItem(), d);
    assertCiphertext("crud", d);
  }

  List<ObjectNode> queryDocs() {
    if (queryDocs.isEmpty()) {
      CosmosContainer c = container("query");
      for (int n = 0; n < 9; n++) {
        ObjectNode d = makeDoc("q", n, "t-q" + (n % 3));
        c.createItem(d, new PartitionKey(d.get("tenant").asText()), new CosmosItemRequestOptions());
        queryDocs.add(d);
      }
      for (ObjectNode d : queryDocs) assertCiphertext("query", d);
    }
    return queryDocs;
  }

  List<JsonNode> query(SqlQuerySpec spec) {
    List<JsonNode> out = new ArrayList<>();
    container("query").queryItems(spec, new CosmosQueryRequestOptions(), JsonNode.class).forEach(out::add);
    return out;
  }

  void queryEquality() {
    ObjectNode want = queryDocs().get(4);
    List<JsonNode> got = query(new SqlQuerySpec("SELECT * FROM c WHERE c.ssn = @ssn",
        new SqlParameter("@ssn", want.get("ssn").asText())));
    assertEquals(List.of(want), sortedById(got), "parameterized equality");
    got = query(new SqlQuerySpec("SELECT * FROM c WHERE c.email = '" + want.get("email").asText() + "'"));
    assertEquals(List.of(want), sortedById(got), "literal equality");
  }

  void queryIn() {
    List<ObjectNode> docs = queryDocs();
    List<JsonNode> got = query(new SqlQuerySpec("SELECT VALUE c.id FROM c WHERE c.ssn IN ('"
        + docs.get(1).get("ssn").asText() + "', '" + docs.get(5).get("ssn").asText() + "')"));
    assertEquals(List.of("q-1", "q-5"), got.stream().map(JsonNode::asText).sorted().collect(Collectors.toList()));
  }

  void queryProjection() {
    ObjectNode d = queryDocs().get(2);
    CosmosQueryRequestOptions o = new CosmosQueryRequestOptions().setPartitionKey(new PartitionKey(d.get("tenant").asText()));
    List<JsonNode> got = new ArrayList<>();
    container("query").queryItems(new SqlQuerySpec("SELECT c.id, c.ssn, c.address, c.city FROM c WHERE c.id = @id",
        new SqlParameter("@id", d.get("id").asText())), o, JsonNode.class).forEach(got::add);
    ObjectNode want = JSON.createObjectNode();
    for (String k : List.of("id", "ssn", "address", "city")) want.set(k, d.get(k));
    assertEquals(List.of(want), got);
  }

  void queryOrderBy() {
    List<ObjectNode> docs = queryDocs();
    List<JsonNode> got = query(new SqlQuerySpec("SELECT c.id, c.rank FROM c WHERE c.kind = 'q' ORDER BY c.rank DESC"));
    List<String> want = docs.stream().sorted(Comparator.comparing((ObjectNode n) -> -n.get("rank").asInt()))
        .map(n -> n.get("id").asText()).collect(Collectors.toList());
    assertEquals(want, got.stream().map(n -> n.get("id").asText()).collect(Collectors.toList()));
  }

  void queryCount() {
    long want = queryDocs().stream().filter(d -> d.get("city").asText().equals("Oslo")).count();
    List<JsonNode> got = query(new SqlQuerySpec("SELECT VALUE COUNT(1) FROM c WHERE c.city = 'Oslo'"));
    assertEquals(1, got.size(), "COUNT: " + got);
    assertEquals(want, got.get(0).asLong());
  }

  void queryContinuation() {
    List<ObjectNode> docs = queryDocs();
    SqlQuerySpec spec = new SqlQuerySpec("SELECT * FROM c WHERE c.kind = 'q'");
    Iterator<FeedResponse<JsonNode>> pages = container("query")
        .queryItems(spec, new CosmosQueryRequestOptions(), JsonNode.class).iterableByPage(2).iterator();
    FeedResponse<JsonNode> first = pages.next();
    String token = first.getContinuationToken();
    assertNotNull(token, "no continuation after the first page");
    List<JsonNode> seen = new ArrayList<>(first.getResults());
    container("query").queryItems(spec, new CosmosQueryRequestOptions(), JsonNode.class)
        .iterableByPage(token, 2).forEach(p -> seen.addAll(p.getResults()));
    assertEquals(sortedById(docs), sortedById(seen));
  }

  List<ObjectNode> feedDocs() {
    if (feedDocs.isEmpty()) {
      for (int n = 0; n < 4; n++) {
        ObjectNode d = makeDoc("f", n, "t-f" + (n % 2));
        container("feed").createItem(d, new PartitionKey(d.get("tenant").asText()), new CosmosItemRequestOptions());
        feedDocs.add(d);
      }
    }
    return feedDocs;
  }

  void readFeed() {
    List<ObjectNode> docs = feedDocs();
    List<JsonNode> got = new ArrayList<>();
    for (String t : List.of("t-f0", "t-f1")) {
      container("feed").readAllItems(new PartitionKey(t), JsonNode.class).forEach(got::add);
    }
    assertEquals(sortedById(docs), sortedById(got));
  }

  List<JsonNode> changeFeed(CosmosChangeFeedRequestOptions o, String[] tokenOut) {
    List<JsonNode> got = new ArrayList<>();
    for (FeedResponse<JsonNode> page : container("feed").queryChangeFeed(o, JsonNode.class).iterableByPage()) {
      got.addAll(page.getResults());
      if (tokenOut != null) tokenOut[0] = page.getContinuationToken();
      if (page.getResults().isEmpty()) break;
    }
    return got;
  }

  void changeFeedBeginning() {
    List<ObjectNode> docs = feedDocs();
    List<JsonNode> got = changeFeed(
        CosmosChangeFeedRequestOptions.createForProcessingFromBeginning(FeedRange.forFullRange()), null);
    assertEquals(sortedById(docs), sortedById(got));
  }

  void changeFeedIncremental() {
    feedDocs();
    String[] token = new String[1];
    changeFeed(CosmosChangeFeedRequestOptions.createForProcessingFromBeginning(FeedRange.forFullRange()), token);
    assertNotNull(token[0], "no continuation from the change feed");
    ObjectNode d = makeDoc("f", 10, "t-f0");
    container("feed").createItem(d, new PartitionKey("t-f0"), new CosmosItemRequestOptions());
    List<JsonNode> got = changeFeed(CosmosChangeFeedRequestOptions.createForProcessingFromContinuation(token[0]), null);
    assertEquals(List.of(d), sortedById(got));
  }

  void changeFeedFeedRange() {
    List<ObjectNode> docs = feedDocs();
    List<FeedRange> ranges = container("feed").getFeedRanges();
    assertFalse(ranges.isEmpty(), "no feed ranges");
    List<JsonNode> got = new ArrayList<>();
    for (FeedRange r : ranges) {
      got.addAll(changeFeed(CosmosChangeFeedRequestOptions.createForProcessingFromBeginning(r), null));
    }
    Set<String> ids = got.stream().map(n -> n.get("id").asText()).collect(Collectors.toSet());
    assertTrue(ids.containsAll(docs.stream().map(n -> n.get("id").asText()).collect(Collectors.toList())), "ids " + ids);
  }

  void bulk() {
    CosmosContainer c = container("bulk");
    List<ObjectNode> docs = new ArrayList<>();
    List<CosmosItemOperation> ops = new ArrayList<>();
    for (int n = 0; n < 6; n++) {
      ObjectNode d = makeDoc("bk", n, "t-bk" + (n % 3));
      docs.add(d);
      ops.add(CosmosBulkOperations.getCreateItemOperation(d, new PartitionKey(d.get("tenant").asText())));
    }
    for (CosmosBulkOperationResponse<Object> r : c.executeBulkOperations(ops)) {
      assertNotNull(r.getResponse(), "bulk op failed: " + r.getException());
      assertTrue(r.getResponse().isSuccessStatusCode(), "bulk op status " + r.getResponse().getStatusCode());
    }
    for (ObjectNode d : docs) {
      assertSame(c.readItem(d.get("id").asText(), new PartitionKey(d.get("tenant").asText()), JsonNode.class).getItem(), d);
      assertCiphertext("bulk", d);
    }
  }

  void transactionalBatch() {
    CosmosContainer c = container("batch");
    ObjectNode a = makeDoc("b", 1, "t-b");
    ObjectNode b = makeDoc("b", 2, "t-b");
    CosmosBatch batch = CosmosBatch.createCosmosBatch(new PartitionKey("t-b"));
    batch.createItemOperation(a);
    batch.upsertItemOperation(b);
    batch.readItemOperation("b-1");
    CosmosBatchResponse r = c.executeCosmosBatch(batch);
    assertTrue(r.isSuccessStatusCode(), "batch status " + r.getStatusCode() + " " + r.getErrorMessage());
    assertSame(r.getResults().get(2).getItem(JsonNode.class), a);
    assertCiphertext("batch", a);
    assertCiphertext("batch", b);
  }

  void readMany() {
    CosmosContainer c = container("many");
    List<ObjectNode> docs = new ArrayList<>();
    List<CosmosItemIdentity> ids = new ArrayList<>();
    for (int n = 0; n < 3; n++) {
      ObjectNode d = makeDoc("m", n, "t-m" + n);
      c.createItem(d, new PartitionKey("t-m" + n), new CosmosItemRequestOptions());
      docs.add(d);
      ids.add(new CosmosItemIdentity(new PartitionKey("t-m" + n), "m-" + n));
    }
    FeedResponse<JsonNode> got = c.readMany(ids, JsonNode.class);
    assertEquals(sortedById(docs), sortedById(got.getResults()));
  }

  void sessionConsistency() {
    try (CosmosClient s = newClient(ConsistencyLevel.SESSION)) {
      CosmosContainer c = s.getDatabase(database).getContainer("session");
      ObjectNode d = makeDoc("s", 1, "t-s");
      PartitionKey pk = new PartitionKey("t-s");
      CosmosItemResponse<ObjectNode> w = c.createItem(d, pk, new CosmosItemRequestOptions());
      assertTrue(standin || w.getSessionToken() != null, "no session token on the write");
      assertSame(c.readItem("s-1", pk, JsonNode.class).getItem(), d);
      d.put("rank", 42);
      c.replaceItem(d, "s-1", pk, new CosmosItemRequestOptions());
      assertEquals(42, c.readItem("s-1", pk, JsonNode.class).getItem().get("rank").asInt(), "read after write is stale");
    }
  }

  void throttle429Retried() {
    CosmosContainer c = container("throttle");
    ObjectNode d = makeDoc("t", 1, "t-t");
    c.createItem(d, new PartitionKey("t-t"), new CosmosItemRequestOptions());
    int before = control("GET", "/throttled", null).get("served").size();
    ObjectNode spec = JSON.createObjectNode().put("count", 2).put("method", "GET")
        .put("pathContains", "/colls/throttle/docs/").put("retryAfterMs", 50);
    control("POST", "/throttle", spec);
    assertSame(c.readItem("t-1", new PartitionKey("t-t"), JsonNode.class).getItem(), d);
    int served = control("GET", "/throttled", null).get("served").size() - before;
    assertEquals(2, served, "the upstream answered 429 this many times");
  }


  // --- protected partition keys (tests/sdk/README.md, "Protected partition keys") -------------
  // Containers whose partition key is a deterministic protected field, on the simulator (3 ranges
  // per container): ppk_str (/cust), ppk_num (/acct, a number: the SDK writes the header as [5.0]
  // while the body says 5), ppk_h (/tenant + /cust, MultiHash v2). Each cell either works (results
  // asserted) or is refused by cosmoseal with a stable detail code: never a silently wrong answer.

  static final List<String> PPK_CONTAINERS = List.of("ppk_str", "ppk_num", "ppk_h");
  static final int PPK_KEYS = 16; // keys per container: with 3 ranges, every range holds some (asserted)
  // ppk_h: the MultiHash EPK starts with hash(tenant), so the tenant picks the range; these four
  // land in each of the simulator's 3 ranges (t0, t2: the first; t10: the second; t1: the third).
  static final List<String> TENANTS = List.of("t0", "t1", "t2", "t10");
  static final double[] NUMS = {5, 7.25, -3, 0.5, 12, 100, 1000000, 42.125, -0.75, 3, 2.5, 64, 1e-3, 999, 7, 13.5};
  // Protected-pk cells that fail today (README "Protected partition keys"); run last and reported,
  // not asserted, unless COSMOSEAL_SDK_STRICT=1. Empty: every cell passes or is refused as it must.
  static final Map<String, String> PPK_GAPS = new LinkedHashMap<>();
  static final long CELL_TIMEOUT_S = 40;

  final boolean ppk = "1".equals(System.getenv("COSMOSEAL_SDK_PPK"));
  final Map<String, List<ObjectNode>> ppkDocs = new LinkedHashMap<>();
  final ExecutorService cellRunner = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "ppk-cell");
    t.setDaemon(true);
    return t;
  });

  static String keyField(String cname) {
    return cname.equals("ppk_num") ? "acct" : "cust";
  }

  static PartitionKey pkOf(String cname, JsonNode d) {
    switch (cname) {
      case "ppk_str":
        return new PartitionKey(d.get("cust").asText());
      case "ppk_num":
        return new PartitionKey(d.get("acct").asDouble());
      default:
        return new PartitionKeyBuilder().add(d.get("tenant").asText()).add(d.get("cust").asText()).build();
    }
  }

  /** A ppk document whose protected values (the key included) are canaries; key null = its own. */
  ObjectNode ppkDoc(String cname, int i, String kind, JsonNode key) {
    ObjectNode d = JSON.createObjectNode();
    d.put("id", cname + "-" + kind + "-" + i);
    d.put("ssn", "SSN-" + SDK + "-" + run + "-" + cname + "-" + kind + "-" + i);
    d.putObject("address").put("street", i + " Canary Road " + run + "-" + cname + "-" + kind).put("city", "Leakville");
    d.put("rank", i);
    d.put("kind", kind);
    if (cname.equals("ppk_num")) {
      double v = key != null ? key.asDouble() : NUMS[i % NUMS.length];
      // As an app's JSON writes it: 5, not 5.0 (the SDK's header says 5.0 all the same).
      if (v == Math.rint(v) && Math.abs(v) < 1e15) d.put("acct", (long) v);
      else d.put("acct", v);
      control("POST", "/pk-canaries", List.of(v));
    } else {
      String v = key != null ? key.asText() : "CUST-" + SDK + "-" + run + "-" + cname + "-" + kind + "-" + i;
      d.put("cust", v);
      control("POST", "/pk-canaries", List.of(v));
      canaries(v);
      if (cname.equals("ppk_h")) d.put("tenant", TENANTS.get(i % TENANTS.size()));
    }
    canaries(d.get("ssn").asText(), d.get("address").get("street").asText());
    return d;
  }

  /** Numbers compared by value (5 and 5.0 alike), system properties dropped. */
  static JsonNode norm(JsonNode n) {
    if (n == null) return null;
    if (n.isNumber()) return JSON.getNodeFactory().numberNode(n.asDouble());
    if (n.isArray()) {
      ArrayNode a = JSON.createArrayNode();
      n.forEach(x -> a.add(norm(x)));
      return a;
    }
    if (n.isObject()) {
      ObjectNode o = JSON.createObjectNode();
      n.fields().forEachRemaining(e -> {
        if (!e.getKey().startsWith("_")) o.set(e.getKey(), norm(e.getValue()));
      });
      return o;
    }
    return n;
  }

  static void assertSameDoc(JsonNode got, JsonNode want) {
    assertEquals(norm(want), norm(got), "read back differs from what was written");
  }

  static List<JsonNode> baseOnly(Iterable<? extends JsonNode> l) {
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode n : l) if (n.path("kind").asText().equals("base")) out.add(norm(n));
    out.sort(byId());
    return out;
  }

  static List<JsonNode> normSorted(List<? extends JsonNode> l) {
    return l.stream().map(MatrixTest::norm).sorted(byId()).collect(Collectors.toList());
  }

  static final Set<String> SEALED = Set.of("cust", "acct", "ssn", "address");

  void ppkAssertStored(String cname, JsonNode d) {
    JsonNode s = control("GET", "/stored", null, "coll", cname, "id", d.get("id").asText()).get("doc");
    assertTrue(s != null && !s.isNull(), cname + "/" + d.get("id") + " is not stored upstream");
    d.fields().forEachRemaining(e -> {
      if (SEALED.contains(e.getKey())) {
        assertTrue(s.path(e.getKey()).isTextual() && s.get(e.getKey()).asText().startsWith(ENVELOPE),
            "stored " + d.get("id") + "/" + e.getKey() + " is not an envelope: " + s.get(e.getKey()));
      } else {
        assertEquals(norm(e.getValue()), norm(s.get(e.getKey())), "stored " + d.get("id") + "/" + e.getKey());
      }
    });
  }

  List<ObjectNode> ppkDocs(String cname) {
    if (!ppkDocs.containsKey(cname)) {
      CosmosContainer c = container(cname);
      List<ObjectNode> docs = new ArrayList<>();
      for (int i = 0; i < PPK_KEYS; i++) docs.add(ppkDoc(cname, i, "base", null));
      for (ObjectNode d : docs) assertSameDoc(c.createItem(d, pkOf(cname, d), new CosmosItemRequestOptions()).getItem(), d);
      ppkDocs.put(cname, docs);
    }
    return ppkDocs.get(cname);
  }

  List<JsonNode> ppkQuery(String cname, SqlQuerySpec spec, CosmosQueryRequestOptions o) {
    List<JsonNode> out = new ArrayList<>();
    container(cname).queryItems(spec, o, JsonNode.class).forEach(out::add);
    return out;
  }

  List<JsonNode> ppkChangeFeed(String cname, FeedRange r) {
    List<JsonNode> got = new ArrayList<>();
    CosmosChangeFeedRequestOptions o = CosmosChangeFeedRequestOptions.createForProcessingFromBeginning(r);
    for (FeedResponse<JsonNode> page : container(cname).queryChangeFeed(o, JsonNode.class).iterableByPage()) {
      got.addAll(page.getResults());
      if (page.getResults().isEmpty()) break;
    }
    return got;
  }

  void ppkCrud(String cname) {
    CosmosContainer c = container(cname);
    List<ObjectNode> docs = ppkDocs(cname);
    for (ObjectNode d : docs) ppkAssertStored(cname, d);
    JsonNode counts = control("GET", "/range-counts", null, "coll", cname).get("counts");
    boolean everyRange = counts != null && counts.size() >= 3;
    for (JsonNode n : counts) everyRange &= n.asInt() > 0;
    assertTrue(everyRange, "documents per range: " + counts);
    ObjectNode x = ppkDoc(cname, 1, "extra", null);
    PartitionKey pk = pkOf(cname, x);
    String id = x.get("id").asText();
    assertSameDoc(c.createItem(x, pk, new CosmosItemRequestOptions()).getItem(), x);
    x.put("rank", 100).put("ssn", x.get("ssn").asText() + "-r");
    canaries(x.get("ssn").asText());
    assertSameDoc(c.replaceItem(x, id, pk, new CosmosItemRequestOptions()).getItem(), x);
    x.put("rank", 101);
    assertSameDoc(c.upsertItem(x, pk, new CosmosItemRequestOptions()).getItem(), x);
    c.patchItem(id, pk, CosmosPatchOperations.create().replace("/rank", 7), ObjectNode.class);
    x.put("rank", 7);
    assertSameDoc(c.readItem(id, pk, ObjectNode.class).getItem(), x);
    ppkAssertStored(cname, x);
    c.deleteItem(id, pk, new CosmosItemRequestOptions());
    JsonNode gone = control("GET", "/stored", null, "coll", cname, "id", id).get("doc");
    assertTrue(gone == null || gone.isNull(), "deleted document still stored");
    try {
      c.readItem(id, pk, ObjectNode.class);
      throw new AssertionError("a deleted document was read back");
    } catch (CosmosException e) {
      assertEquals(404, e.getStatusCode(), "reading a deleted document: " + describe(e));
    }
  }

  void ppkPointRead(String cname) {
    CosmosContainer c = container(cname);
    for (ObjectNode d : ppkDocs(cname)) assertSameDoc(c.readItem(d.get("id").asText(), pkOf(cname, d), JsonNode.class).getItem(), d);
  }

  void ppkQueryPk(String cname) {
    for (ObjectNode d : ppkDocs(cname).subList(0, 6)) {
      List<JsonNode> got = baseOnly(ppkQuery(cname, new SqlQuerySpec("SELECT * FROM c WHERE c.kind = 'base'"),
          new CosmosQueryRequestOptions().setPartitionKey(pkOf(cname, d))));
      assertEquals(List.of(norm(d)), got, "query in the partition of " + d.get("id"));
    }
  }

  void ppkQueryCross(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    String f = keyField(cname);
    for (ObjectNode d : docs.subList(0, 4)) {
      Object v = d.get(f).isNumber() ? (Object) d.get(f).numberValue() : d.get(f).asText();
      List<JsonNode> got = baseOnly(ppkQuery(cname, new SqlQuerySpec("SELECT * FROM c WHERE c." + f + " = @v",
          new SqlParameter("@v", v)), new CosmosQueryRequestOptions()));
      assertEquals(List.of(norm(d)), got, f + " = " + v);
    }
    String lit = docs.get(1).get(f).toString();
    List<JsonNode> got = baseOnly(ppkQuery(cname, new SqlQuerySpec("SELECT * FROM c WHERE c." + f + " = " + lit),
        new CosmosQueryRequestOptions()));
    assertEquals(List.of(norm(docs.get(1))), got, f + " = " + lit + " (literal)");
  }

  void ppkReadFeed(String cname) {
    // readAllItems is per partition key in the Java SDK: every key's feed holds exactly its document.
    for (ObjectNode d : ppkDocs(cname)) {
      List<JsonNode> got = new ArrayList<>();
      container(cname).readAllItems(pkOf(cname, d), JsonNode.class).forEach(got::add);
      assertEquals(List.of(norm(d)), baseOnly(got), "readAllItems of " + d.get("id") + "'s key");
    }
  }

  void ppkChangeFeedBeginning(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    assertEquals(normSorted(docs), baseOnly(ppkChangeFeed(cname, FeedRange.forFullRange())), "change feed");
  }

  void ppkChangeFeedFeedRange(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    List<FeedRange> ranges = container(cname).getFeedRanges();
    assertTrue(ranges.size() >= 3, ranges.size() + " feed ranges");
    List<JsonNode> all = new ArrayList<>();
    for (FeedRange r : ranges) all.addAll(ppkChangeFeed(cname, r));
    assertEquals(normSorted(docs), baseOnly(all), "per-range change feed");
  }

  void ppkChangeFeedPartitionKey(String cname) {
    // FeedRange.forLogicalPartition: the SDK sends the key (sealed by cosmoseal) with routing it
    // computed from the plaintext; exactly that key's documents must come back.
    List<ObjectNode> docs = ppkDocs(cname);
    for (ObjectNode d : List.of(docs.get(2), docs.get(7), docs.get(13))) {
      List<JsonNode> got = baseOnly(ppkChangeFeed(cname, FeedRange.forLogicalPartition(pkOf(cname, d))));
      assertEquals(List.of(norm(d)), got, "change feed of " + d.get("id") + "'s key");
    }
  }

  void ppkReadMany(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    List<CosmosItemIdentity> ids = new ArrayList<>();
    for (ObjectNode d : docs) ids.add(new CosmosItemIdentity(pkOf(cname, d), d.get("id").asText()));
    FeedResponse<JsonNode> got = container(cname).readMany(ids, JsonNode.class);
    List<JsonNode> base = baseOnly(got.getResults());
    assertEquals(docs.size(), base.size(), "readMany: " + base.size() + " of " + docs.size() + " documents");
    assertEquals(normSorted(docs), base, "readMany");
  }

  void ppkBulk(String cname) {
    CosmosContainer c = container(cname);
    List<ObjectNode> docs = new ArrayList<>();
    List<CosmosItemOperation> ops = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      ObjectNode d = ppkDoc(cname, 60 + i, "bulk", null);
      docs.add(d);
      ops.add(CosmosBulkOperations.getCreateItemOperation(d, pkOf(cname, d)));
    }
    int n = 0;
    for (CosmosBulkOperationResponse<Object> r : c.executeBulkOperations(ops)) {
      n++;
      assertNotNull(r.getResponse(), "bulk op failed: " + (r.getException() == null ? "no response" : describe(r.getException())));
      assertTrue(r.getResponse().isSuccessStatusCode(), "bulk op status " + r.getResponse().getStatusCode());
    }
    assertEquals(docs.size(), n, "bulk responses");
    for (ObjectNode d : docs) {
      assertSameDoc(c.readItem(d.get("id").asText(), pkOf(cname, d), JsonNode.class).getItem(), d);
      ppkAssertStored(cname, d);
    }
  }

  void ppkBatch(String cname) {
    CosmosContainer c = container(cname);
    ObjectNode a = ppkDoc(cname, 20, "batch", null);
    ObjectNode b = ppkDoc(cname, 21, "batch", a.get(keyField(cname)));
    if (cname.equals("ppk_h")) b.put("tenant", a.get("tenant").asText());
    PartitionKey pk = pkOf(cname, a);
    CosmosBatch batch = CosmosBatch.createCosmosBatch(pk);
    batch.createItemOperation(a);
    batch.upsertItemOperation(b);
    batch.readItemOperation(a.get("id").asText());
    CosmosBatchResponse r = c.executeCosmosBatch(batch);
    assertTrue(r.isSuccessStatusCode(), "batch status " + r.getStatusCode() + " " + r.getErrorMessage());
    assertSameDoc(r.getResults().get(2).getItem(JsonNode.class), a);
    assertSameDoc(c.readItem(b.get("id").asText(), pk, JsonNode.class).getItem(), b);
    ppkAssertStored(cname, a);
    ppkAssertStored(cname, b);
  }

  void ppkPrefixQuery(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    for (String t : TENANTS) {
      List<JsonNode> got = baseOnly(ppkQuery(cname, new SqlQuerySpec("SELECT * FROM c"),
          new CosmosQueryRequestOptions().setPartitionKey(new PartitionKeyBuilder().add(t).build())));
      List<JsonNode> want = normSorted(docs.stream().filter(d -> d.get("tenant").asText().equals(t)).collect(Collectors.toList()));
      assertEquals(want, got, "prefix [" + t + "]");
    }
  }

  void ppkSession(String cname) {
    List<ObjectNode> docs = ppkDocs(cname);
    try (CosmosClient s = newClient(ConsistencyLevel.SESSION)) {
      CosmosContainer c = s.getDatabase(database).getContainer(cname);
      for (int i = 0; i < docs.size(); i++) {
        ObjectNode d = docs.get(i);
        ObjectNode x = ppkDoc(cname, 40 + i, "session", d.get(keyField(cname)));
        if (cname.equals("ppk_h")) x.put("tenant", d.get("tenant").asText());
        PartitionKey pk = pkOf(cname, x);
        String id = x.get("id").asText();
        CosmosItemResponse<ObjectNode> w = c.createItem(x, pk, new CosmosItemRequestOptions());
        assertNotNull(w.getSessionToken(), "no session token on the write");
        assertSameDoc(c.readItem(id, pk, JsonNode.class).getItem(), x);
        x.put("rank", 1000 + i);
        c.replaceItem(x, id, pk, new CosmosItemRequestOptions());
        assertEquals(1000 + i, c.readItem(id, pk, JsonNode.class).getItem().get("rank").asInt(), "read after write is stale (" + id + ")");
      }
    }
  }

  /** Runs a cell with a bounded wait: an SDK retrying a wrong answer forever fails the cell only. */
  void bounded(Runnable r) {
    Future<?> f = cellRunner.submit(r);
    try {
      f.get(CELL_TIMEOUT_S, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      f.cancel(true);
      throw new AssertionError("no answer within " + CELL_TIMEOUT_S + " s (the SDK kept retrying)");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException) throw (RuntimeException) e.getCause();
      if (e.getCause() instanceof Error) throw (Error) e.getCause();
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  void ppkScenarios(Map<String, Runnable> s) {
    for (String cname : PPK_CONTAINERS) {
      Map<String, Runnable> cells = new LinkedHashMap<>();
      cells.put("crud", () -> ppkCrud(cname));
      cells.put("point_read", () -> ppkPointRead(cname));
      cells.put("query_pk", () -> ppkQueryPk(cname));
      cells.put("query_cross_partition_pk_where", () -> ppkQueryCross(cname));
      cells.put("read_feed", () -> ppkReadFeed(cname));
      cells.put("change_feed_beginning", () -> ppkChangeFeedBeginning(cname));
      cells.put("change_feed_feed_range", () -> ppkChangeFeedFeedRange(cname));
      cells.put("change_feed_partition_key", () -> ppkChangeFeedPartitionKey(cname));
      cells.put("read_many", () -> ppkReadMany(cname));
      cells.put("bulk", () -> ppkBulk(cname));
      cells.put("transactional_batch", () -> ppkBatch(cname));
      if (cname.equals("ppk_h")) cells.put("prefix_query", () -> ppkPrefixQuery(cname));
      cells.put("session_consistency", () -> ppkSession(cname));
      cells.forEach((cell, r) -> s.put(cname + "." + cell, () -> bounded(r)));
    }
  }

  void setUpPpk() {
    for (JsonNode c : control("GET", "/info", null).get("ppk")) {
      List<String> paths = new ArrayList<>();
      c.get("paths").forEach(p -> paths.add(p.asText()));
      // The SDK's default version is used: with setVersion(V2) the simulator refuses the container
      // ("The partition key version must be 1 or 2."; the cause is not investigated yet).
      PartitionKeyDefinition def = new PartitionKeyDefinition().setPaths(paths);
      def.setKind(c.get("kind").asText().equals("MultiHash") ? PartitionKind.MULTI_HASH : PartitionKind.HASH);
      db.createContainerIfNotExists(new CosmosContainerProperties(c.get("name").asText(), def));
    }
    if ("1".equals(System.getenv("COSMOSEAL_SDK_PPK_SURVEY"))) { // every ppk cell judged on its own
      Map<String, Runnable> all = new LinkedHashMap<>();
      ppkScenarios(all);
      all.keySet().forEach(k -> PPK_GAPS.put(k, "survey"));
    }
  }

  Map<String, Runnable> scenarios() {
    Map<String, Runnable> s = new LinkedHashMap<>();
    s.put("account_discovery", this::accountDiscovery);
    s.put("crud", this::crud);
    s.put("patch_protected", this::patchProtected);
    s.put("point_read", this::pointRead);
    s.put("query_equality", this::queryEquality);
    s.put("query_in", this::queryIn);
    s.put("query_projection", this::queryProjection);
    s.put("query_order_by", this::queryOrderBy);
    s.put("query_count", this::queryCount);
    s.put("query_continuation", this::queryContinuation);
    s.put("read_feed", this::readFeed);
    s.put("change_feed_beginning", this::changeFeedBeginning);
    s.put("change_feed_incremental", this::changeFeedIncremental);
    s.put("change_feed_feed_range", this::changeFeedFeedRange);
    s.put("bulk", this::bulk);
    s.put("transactional_batch", this::transactionalBatch);
    s.put("read_many", this::readMany);
    s.put("session_consistency", this::sessionConsistency);
    s.put("throttle_429_retried", this::throttle429Retried);
    if (ppk) ppkScenarios(s);
    return s;
  }

  boolean notAsserted(String name) {
    return !strict && (KNOWN_PRODUCT_GAPS.contains(name) || PPK_GAPS.containsKey(name)
        || (standin && STANDIN_LIMITS.containsKey(name)));
  }

  @TestFactory
  Stream<DynamicTest> matrix() {
    return scenarios().entrySet().stream().filter(e -> !notAsserted(e.getKey()))
        .map(e -> DynamicTest.dynamicTest(e.getKey(), () -> {
          long t0 = System.nanoTime();
          try {
            e.getValue().run();
            assertNoCanaryHits();
            report(e.getKey(), "pass", ms(t0), "");
          } catch (Throwable t) {
            report(e.getKey(), "fail", ms(t0), describe(t));
            throw t;
          }
        }));
  }

  /** The known gaps and stand-in limits run last: reported, not asserted. */
  @AfterAll
  void knownGaps() {
    try {
      for (Map.Entry<String, Runnable> e : scenarios().entrySet()) {
        if (!notAsserted(e.getKey())) continue;
        boolean limit = !KNOWN_PRODUCT_GAPS.contains(e.getKey()) && !PPK_GAPS.containsKey(e.getKey());
        String kind = limit ? "standin" : "gap";
        String list = limit ? "STANDIN_LIMITS" : "KNOWN_PRODUCT_GAPS";
        long t0 = System.nanoTime();
        Throwable err = null;
        try {
          e.getValue().run();
          assertNoCanaryHits();
        } catch (Throwable t) {
          err = t;
        }
        // What a known gap leaked is reported by the launcher and taken back, so that the next one
        // starts clean (COSMOSEAL_SDK_STRICT=1 asserts it instead).
        control("POST", "/canary-hits/ack", Map.of("all", true, "scenario", e.getKey()));
        String why = limit ? " [stand-in: " + STANDIN_LIMITS.get(e.getKey()) + "]"
            : PPK_GAPS.containsKey(e.getKey()) ? " [gap: " + PPK_GAPS.get(e.getKey()) + "]" : "";
        System.out.println(list + " " + e.getKey() + ": "
            + (err != null ? "still fails: " + describe(err) : "passes now: remove it from " + list));
        report(e.getKey(), kind + (err != null ? "-fails" : "-passes"), ms(t0), (err != null ? describe(err) : "") + why);
      }
      NOT_POSSIBLE.forEach((k, v) -> report(k, "n/a", 0, v));
    } finally {
      if (client != null) client.close();
    }
  }

  static long ms(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }

  static String describe(Throwable t) {
    if (t instanceof CosmosException) {
      CosmosException c = (CosmosException) t;
      String detail = c.getResponseHeaders() == null ? "" : c.getResponseHeaders().getOrDefault("x-cosmoseal-detail", "");
      String msg = String.valueOf(c.getMessage());
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"resourceAddress\":\"([^\"]*)\"").matcher(c.toString());
      java.util.regex.Matcher inner = java.util.regex.Pattern.compile("\"innerErrorMessage\":\"([^\"]*)\"").matcher(msg);
      return "HTTP " + c.getStatusCode() + "/" + c.getSubStatusCode() + " " + detail + " on "
          + (m.find() ? m.group(1) : "?") + ": " + (inner.find() ? inner.group(1) : msg.substring(0, Math.min(msg.length(), 300)));
    }
    String msg = t.getClass().getSimpleName() + ": " + t.getMessage();
    return msg.substring(0, Math.min(msg.length(), 600));
  }

  void report(String scenario, String status, long ms, String detail) {
    if (report == null) return;
    ObjectNode line = JSON.createObjectNode().put("sdk", SDK).put("version", "azure-cosmos " + version)
        .put("scenario", scenario).put("status", status).put("ms", ms).put("detail", detail);
    try {
      Files.writeString(Path.of(report), JSON.writeValueAsString(line) + "\n", StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
