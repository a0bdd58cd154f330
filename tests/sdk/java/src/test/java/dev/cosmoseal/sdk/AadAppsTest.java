package dev.cosmoseal.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.azure.core.credential.TokenCredential;
import com.azure.cosmos.CosmosClient;
import com.azure.cosmos.CosmosClientBuilder;
import com.azure.cosmos.CosmosContainer;
import com.azure.cosmos.CosmosException;
import com.azure.cosmos.models.CosmosItemRequestOptions;
import com.azure.cosmos.models.CosmosQueryRequestOptions;
import com.azure.cosmos.models.PartitionKey;
import com.azure.cosmos.models.SqlParameter;
import com.azure.cosmos.models.SqlQuerySpec;
import com.azure.identity.ClientCertificateCredentialBuilder;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
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
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Entra ID, through cosmoseal (tests/sdk/README.md): azure-cosmos with azure-identity credentials
 * (authority host = the test identity provider) through cosmoseal, which verifies the tokens, maps
 * them to its clients by object id and seals the protected fields. Run by
 * tests/sdk/lib/aad-apps.mjs once per upstream (account key, Entra token), which sets
 * COSMOSEAL_AAD_*, AZURE_*, IDENTITY_* and checks the simulator, the audit log and the provider
 * afterwards; skipped everywhere else.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@EnabledIfEnvironmentVariable(named = "COSMOSEAL_AAD_APPS", matches = "1")
class AadAppsTest {
  static final String TAG = "[aad-apps-java]";
  static final String ENVELOPE = "csx1:";
  static final String DETAIL = "x-cosmoseal-detail";
  final String endpoint = System.getenv("COSMOSEAL_AAD_ENDPOINT");
  final String database = System.getenv("COSMOSEAL_AAD_DATABASE");
  final String containerName = System.getenv("COSMOSEAL_AAD_CONTAINER");
  final String control = System.getenv("COSMOSEAL_AAD_CONTROL");
  final String run = System.getenv("COSMOSEAL_AAD_RUN");
  final String upstream = System.getenv("COSMOSEAL_AAD_UPSTREAM");
  final String authority = System.getenv("AZURE_AUTHORITY_HOST");
  final String tenant = System.getenv("AZURE_TENANT_ID");
  final String clientId = System.getenv("AZURE_CLIENT_ID");
  final ObjectMapper json = new ObjectMapper();
  final HttpClient http = HttpClient.newHttpClient();
  final List<String> used = new ArrayList<>();
  final List<String[]> results = new ArrayList<>();
  final List<CosmosClient> clients = new ArrayList<>();

  interface Body {
    void run() throws Exception;
  }

  /** Runs one scenario, records its outcome for the launcher's matrix, and rethrows a failure. */
  void scenario(String name, String kind, Body body) throws Exception {
    try {
      body.run();
      results.add(new String[] {name, "PASS"});
      if (kind != null) used.add(kind);
      System.out.println(TAG + " PASS " + name);
    } catch (Throwable e) {
      results.add(new String[] {name, "FAIL"});
      System.out.println(TAG + " FAIL " + name + ": " + e);
      throw e;
    }
  }

  JsonNode control(String method, String path, Object body) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(control.replaceAll("/$", "") + path));
    b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
                     : b.method(method, HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body)));
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return json.readTree(r.body());
  }

  JsonNode stored(String id) throws IOException, InterruptedException {
    return control("GET", "/stored?id=" + URLEncoder.encode(id, StandardCharsets.UTF_8), null).get("doc");
  }

  CosmosClient client(TokenCredential credential) {
    CosmosClient c = new CosmosClientBuilder().endpoint(endpoint).credential(credential).gatewayMode().buildClient();
    clients.add(c);
    return c;
  }

  CosmosContainer container(CosmosClient c) {
    return c.getDatabase(database).getContainer(containerName);
  }

  /** A document whose protected values (/ssn deterministic, /address randomized) are canaries. */
  ObjectNode canaryDoc(String tag, int i) throws IOException, InterruptedException {
    ObjectNode d = json.createObjectNode().put("id", tag + "-" + i).put("pk", tag + "-p" + (i % 2)).put("n", i).put("tag", tag)
        .put("ssn", "ssn-" + run + "-" + upstream + "-j" + tag + "-" + i);
    d.putObject("address").put("street", "street-" + run + "-" + upstream + "-j" + tag + "-" + i).put("city", "Lyon");
    control("POST", "/canaries", List.of(d.get("ssn").asText(), d.get("address").get("street").asText()));
    return d;
  }

  /** What the simulator stores: envelopes at /ssn and /address, the rest as written. */
  void assertSealed(ObjectNode doc) throws IOException, InterruptedException {
    JsonNode s = stored(doc.get("id").asText());
    assertTrue(s != null && !s.isNull(), doc.get("id") + " is not stored upstream");
    for (String k : List.of("ssn", "address")) {
      assertTrue(s.path(k).isTextual() && s.get(k).asText().startsWith(ENVELOPE), "stored " + doc.get("id") + "/" + k + " is not an envelope: " + s.get(k));
    }
    for (String k : List.of("id", "pk", "n", "tag")) assertEquals(doc.get(k), s.get(k), "stored " + doc.get("id") + "/" + k);
  }

  void assertNoCanaryHits() throws IOException, InterruptedException {
    JsonNode hits = control("GET", "/canary-hits", null);
    assertEquals(0, hits.size(), "canaries reached the simulator: " + hits);
  }

  /** create / read / replace / query (equality on the deterministic /ssn) / delete. */
  void dataPlane(CosmosClient c, String tag) throws Exception {
    CosmosContainer cont = container(c);
    List<ObjectNode> docs = new ArrayList<>();
    for (int i = 0; i < 3; i++) docs.add(canaryDoc(tag, i));
    for (ObjectNode d : docs) assertEquals(201, cont.createItem(d).getStatusCode());
    ObjectNode d1 = docs.get(1);
    JsonNode got = cont.readItem(d1.get("id").asText(), new PartitionKey(d1.get("pk").asText()), JsonNode.class).getItem();
    assertEquals(d1.get("ssn"), got.get("ssn"));
    assertEquals(d1.get("address"), got.get("address"));
    // replace: a new ssn, sealed again
    d1.put("ssn", "ssn-" + run + "-" + upstream + "-j" + tag + "-1r").put("n", 10);
    control("POST", "/canaries", List.of(d1.get("ssn").asText()));
    cont.replaceItem(d1, d1.get("id").asText(), new PartitionKey(d1.get("pk").asText()), new CosmosItemRequestOptions());
    assertEquals(d1.get("ssn"), cont.readItem(d1.get("id").asText(), new PartitionKey(d1.get("pk").asText()), JsonNode.class).getItem().get("ssn"));
    // equality on the deterministic field, across partitions
    ObjectNode d2 = docs.get(2);
    List<JsonNode> found = new ArrayList<>();
    cont.queryItems(new SqlQuerySpec("SELECT * FROM c WHERE c.ssn = @s", new SqlParameter("@s", d2.get("ssn").asText())), new CosmosQueryRequestOptions(), JsonNode.class)
        .forEach(found::add);
    assertEquals(1, found.size(), found.toString());
    assertEquals(d2.get("id"), found.get(0).get("id"));
    assertEquals(d2.get("address"), found.get(0).get("address"));
    found.clear();
    cont.queryItems(new SqlQuerySpec("SELECT * FROM c WHERE c.ssn = @s", new SqlParameter("@s", d1.get("ssn").asText())),
        new CosmosQueryRequestOptions().setPartitionKey(new PartitionKey(d1.get("pk").asText())), JsonNode.class).forEach(found::add);
    assertEquals(1, found.size(), found.toString());
    assertEquals(10, found.get(0).get("n").asInt());
    for (ObjectNode d : docs) assertSealed(d);
    ObjectNode d0 = docs.get(0);
    cont.deleteItem(d0.get("id").asText(), new PartitionKey(d0.get("pk").asText()), new CosmosItemRequestOptions());
    try {
      cont.readItem(d0.get("id").asText(), new PartitionKey(d0.get("pk").asText()), JsonNode.class);
      fail("a deleted item was read");
    } catch (CosmosException e) {
      assertEquals(404, e.getStatusCode());
    }
    assertTrue(stored(d0.get("id").asText()).isNull(), "the deleted item is still stored");
    assertNoCanaryHits();
  }

  @Test
  void clientSecret() throws Exception {
    scenario("java ClientSecretCredential", "secret", () -> dataPlane(client(new ClientSecretCredentialBuilder().authorityHost(authority).tenantId(tenant)
        .clientId(clientId).clientSecret(System.getenv("AZURE_CLIENT_SECRET")).disableInstanceDiscovery().build()), "secret"));
  }

  @Test
  void certificate() throws Exception {
    scenario("java ClientCertificateCredential", "certificate", () -> dataPlane(client(new ClientCertificateCredentialBuilder().authorityHost(authority)
        .tenantId(tenant).clientId(clientId).pemCertificate(System.getenv("AZURE_CLIENT_CERTIFICATE_PATH")).disableInstanceDiscovery().build()), "cert"));
  }

  @Test
  void workloadIdentity() throws Exception {
    scenario("java WorkloadIdentityCredential", "workload", () -> dataPlane(client(new WorkloadIdentityCredentialBuilder().authorityHost(authority)
        .tenantId(tenant).clientId(clientId).tokenFilePath(System.getenv("COSMOSEAL_AAD_TOKEN_FILE")).disableInstanceDiscovery().build()), "wi"));
  }

  @Test
  void managedIdentity() throws Exception {
    // IDENTITY_ENDPOINT / IDENTITY_HEADER (App Service style) are in this process's environment.
    // A managed identity endpoint refuses cosmoseal's host as a resource in a form the SDK does not
    // recognise, so its fallback to https://cosmos.azure.com/.default never happens: such apps name
    // the scope with the SDK's own setting (README "Entra ID, through cosmoseal"), read when the
    // client is built.
    scenario("java ManagedIdentityCredential (App Service)", "managed", () -> {
      System.setProperty("COSMOS.AAD_SCOPE_OVERRIDE", "https://cosmos.azure.com/.default");
      CosmosClient c;
      try {
        c = client(new ManagedIdentityCredentialBuilder().build());
      } finally {
        System.clearProperty("COSMOS.AAD_SCOPE_OVERRIDE");
      }
      dataPlane(c, "mi");
    });
  }

  /** What Microsoft recommends for apps: the chain picks EnvironmentCredential (AZURE_CLIENT_SECRET). */
  @Test
  void defaultCredential() throws Exception {
    scenario("java DefaultAzureCredential (environment)", "secret", () -> dataPlane(client(new DefaultAzureCredentialBuilder()
        .authorityHost(authority).tenantId(tenant).disableInstanceDiscovery().build()), "default"));
  }

  /** An identity the provider knows but no cosmoseal client names: 403 auth.unknown_identity. */
  @Test
  void unknownIdentity() throws Exception {
    scenario("java unknown identity: 403 auth.unknown_identity", null, () -> {
      TokenCredential cred = new ClientSecretCredentialBuilder().authorityHost(authority).tenantId(tenant)
          .clientId(System.getenv("COSMOSEAL_AAD_STRANGER_ID")).clientSecret(System.getenv("COSMOSEAL_AAD_STRANGER_SECRET")).disableInstanceDiscovery().build();
      try {
        // The client reads the account when it is built: that first request is the one refused.
        CosmosClient c = client(cred);
        container(c).readItem("x", new PartitionKey("x"), JsonNode.class);
        fail("an unknown identity was served");
      } catch (CosmosException e) {
        assertEquals(403, e.getStatusCode(), e.getMessage());
        assertEquals("auth.unknown_identity", e.getResponseHeaders().get(DETAIL), e.getMessage());
      } catch (RuntimeException e) {
        // buildClient wraps the account read's failure: the service's status and body are in the message.
        String m = String.valueOf(e.getMessage());
        assertTrue(m.contains("\"statusCode\":403") && m.contains("(detail: auth.unknown_identity)"), m);
      }
    });
  }

  /** A client-key app beside the Entra ones. */
  @Test
  void clientKey() throws Exception {
    scenario("java client key beside Entra apps", null, () -> {
      CosmosClient c = new CosmosClientBuilder().endpoint(endpoint).key(System.getenv("COSMOSEAL_AAD_CLIENT_KEY")).gatewayMode().buildClient();
      clients.add(c);
      CosmosContainer cont = container(c);
      ObjectNode d = canaryDoc("key", 0);
      assertEquals(201, cont.createItem(d).getStatusCode());
      assertEquals(d.get("ssn"), cont.readItem(d.get("id").asText(), new PartitionKey(d.get("pk").asText()), JsonNode.class).getItem().get("ssn"));
      assertSealed(d);
      assertNoCanaryHits();
    });
  }

  @AfterAll
  void report() throws IOException {
    for (CosmosClient c : clients) c.close();
    ObjectNode out = json.createObjectNode();
    out.set("credentials", json.valueToTree(used));
    ArrayNode rs = out.putArray("results");
    for (String[] r : results) rs.addObject().put("name", r[0]).put("outcome", r[1]);
    assertNotNull(System.getenv("COSMOSEAL_AAD_REPORT"));
    Files.writeString(Path.of(System.getenv("COSMOSEAL_AAD_REPORT")), json.writeValueAsString(out));
  }
}
