package dev.cosmoseal.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.core.credential.TokenCredential;
import com.azure.cosmos.CosmosClient;
import com.azure.cosmos.CosmosClientBuilder;
import com.azure.cosmos.CosmosContainer;
import com.azure.cosmos.CosmosDatabase;
import com.azure.cosmos.CosmosException;
import com.azure.cosmos.models.CosmosContainerProperties;
import com.azure.cosmos.models.CosmosPatchOperations;
import com.azure.cosmos.models.CosmosQueryRequestOptions;
import com.azure.cosmos.models.PartitionKey;
import com.azure.cosmos.models.SqlParameter;
import com.azure.cosmos.models.SqlQuerySpec;
import com.azure.identity.ClientCertificateCredentialBuilder;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Entra ID, direct (tests/sdk/README.md): azure-cosmos with azure-identity credentials, authority
 * host = the test identity provider, straight against the simulator with local auth disabled. Run
 * by tests/sdk/lib/aad-direct.mjs (which sets COSMOSEAL_AAD_*, AZURE_* and IDENTITY_*); skipped in
 * the cosmoseal matrix run.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@EnabledIfEnvironmentVariable(named = "COSMOSEAL_AAD_ENDPOINT", matches = ".+")
class AadDirectTest {
  final String endpoint = System.getenv("COSMOSEAL_AAD_ENDPOINT");
  final String database = System.getenv("COSMOSEAL_AAD_DATABASE");
  final String containerName = System.getenv("COSMOSEAL_AAD_CONTAINER");
  final String authority = System.getenv("AZURE_AUTHORITY_HOST");
  final String tenant = System.getenv("AZURE_TENANT_ID");
  final String clientId = System.getenv("AZURE_CLIENT_ID");
  final ObjectMapper json = new ObjectMapper();
  final List<String> used = new ArrayList<>();
  final List<CosmosClient> clients = new ArrayList<>();

  CosmosClient client(TokenCredential credential) {
    CosmosClient c = new CosmosClientBuilder().endpoint(endpoint).credential(credential).gatewayMode().buildClient();
    clients.add(c);
    return c;
  }

  void dataPlane(CosmosClient c, String tag) {
    CosmosDatabase db = c.getDatabase(database);
    assertEquals(database, db.read().getProperties().getId());
    CosmosContainer cont = db.getContainer(containerName);
    assertEquals(containerName, cont.read().getProperties().getId());
    for (int i = 0; i < 6; i++) {
      ObjectNode d = json.createObjectNode().put("id", tag + "-" + i).put("pk", "p" + (i % 3)).put("n", i).put("tag", tag);
      cont.createItem(d);
    }
    assertEquals(1, cont.readItem(tag + "-1", new PartitionKey("p1"), JsonNode.class).getItem().get("n").asInt());
    cont.upsertItem(json.createObjectNode().put("id", tag + "-2").put("pk", "p2").put("n", 20).put("tag", tag));
    cont.patchItem(tag + "-1", new PartitionKey("p1"), CosmosPatchOperations.create().increment("/n", 10), JsonNode.class);
    SqlQuerySpec q = new SqlQuerySpec("SELECT VALUE SUM(c.n) FROM c WHERE c.tag = @t", new SqlParameter("@t", tag));
    List<Double> sum = new ArrayList<>();
    cont.queryItems(q, new CosmosQueryRequestOptions(), Double.class).forEach(sum::add);
    assertEquals(List.of(11.0 + 20 + 3 + 4 + 5), sum);
    cont.deleteItem(tag + "-5", new PartitionKey("p2"), null);
  }

  @Test
  void clientSecret() {
    TokenCredential cred = new ClientSecretCredentialBuilder().authorityHost(authority).tenantId(tenant).clientId(clientId)
        .clientSecret(System.getenv("AZURE_CLIENT_SECRET")).disableInstanceDiscovery().build();
    CosmosClient c = client(cred);
    dataPlane(c, "secret");
    used.add("secret");
    CosmosException db = assertThrows(CosmosException.class, () -> c.createDatabase("newdb"));
    assertEquals(403, db.getStatusCode());
    assertEquals(5300, db.getSubStatusCode());
    CosmosException coll = assertThrows(CosmosException.class,
        () -> c.getDatabase(database).createContainer(new CosmosContainerProperties("c2", "/pk")));
    assertEquals(403, coll.getStatusCode());
    assertEquals(5300, coll.getSubStatusCode());
  }

  @Test
  void accountKeyRefused() {
    // The client reads the account when it is built: that first request is refused.
    RuntimeException e = assertThrows(RuntimeException.class,
        () -> clients.add(new CosmosClientBuilder().endpoint(endpoint).key(System.getenv("COSMOSEAL_AAD_KEY")).gatewayMode().buildClient()));
    assertTrue(e.getMessage().contains("Local Authorization is disabled") && e.getMessage().contains("\"statusCode\":401"), e.getMessage());
  }

  @Test
  void certificate() {
    TokenCredential cred = new ClientCertificateCredentialBuilder().authorityHost(authority).tenantId(tenant).clientId(clientId)
        .pemCertificate(System.getenv("AZURE_CLIENT_CERTIFICATE_PATH")).disableInstanceDiscovery().build();
    dataPlane(client(cred), "cert");
    used.add("certificate");
  }

  @Test
  void workloadIdentity() {
    TokenCredential cred = new WorkloadIdentityCredentialBuilder().authorityHost(authority).tenantId(tenant).clientId(clientId)
        .tokenFilePath(System.getenv("COSMOSEAL_AAD_TOKEN_FILE")).disableInstanceDiscovery().build();
    dataPlane(client(cred), "wi");
    used.add("workload");
  }

  @Test
  void managedIdentity() {
    // IDENTITY_ENDPOINT / IDENTITY_HEADER (App Service style) are in this process's environment.
    dataPlane(client(new ManagedIdentityCredentialBuilder().build()), "mi");
    used.add("managed");
  }

  @AfterAll
  void report() throws IOException {
    for (CosmosClient c : clients) c.close();
    String file = System.getenv("COSMOSEAL_AAD_REPORT");
    if (file != null) Files.writeString(Path.of(file), json.writeValueAsString(json.createObjectNode().set("credentials", json.valueToTree(used))));
  }
}
