// The failover drill's loop for the Java SDK (azure-cosmos, pinned in ../pom.xml), gateway mode.
// Started by tests/sdk/lib/failover-drill.mjs (through run.sh, which builds the classpath and the
// trust store); the protocol is in that file's header. Two threads share one client: one creates
// documents, one reads the seed document "r0" (partition "p0"), each pausing
// COSMOSEAL_DRILL_INTERVAL_MS between operations until COSMOSEAL_DRILL_DURATION_MS has passed.
// Reads prefer COSMOSEAL_DRILL_PREFERRED. Every operation is one JSON line on stdout with
// epoch-millisecond start and end. A single-file program (java FailoverDrill.java), outside src/
// so that the matrix build does not compile it.

import com.azure.cosmos.CosmosClient;
import com.azure.cosmos.CosmosClientBuilder;
import com.azure.cosmos.CosmosContainer;
import com.azure.cosmos.CosmosEndToEndOperationLatencyPolicyConfigBuilder;
import com.azure.cosmos.CosmosException;
import com.azure.cosmos.models.CosmosItemRequestOptions;
import com.azure.cosmos.models.PartitionKey;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class FailoverDrill {
  static final ObjectMapper JSON = new ObjectMapper();

  static synchronized void emit(Map<String, Object> m) {
    try {
      System.out.println(JSON.writeValueAsString(m));
      System.out.flush();
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }

  static long env(String name, long def) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? def : Long.parseLong(v);
  }

  static String describe(Throwable e) {
    if (e instanceof CosmosException ce) {
      if (ce.getStatusCode() == 408) return "timeout";
      return ce.getSubStatusCode() != 0 ? ce.getStatusCode() + "/" + ce.getSubStatusCode() : String.valueOf(ce.getStatusCode());
    }
    String s = e.getClass().getSimpleName();
    return s.length() > 40 ? s.substring(0, 40) : s;
  }

  interface Op {
    void run(int i, String id) throws Exception;
  }

  public static void main(String[] args) throws Exception {
    long durationMs = env("COSMOSEAL_DRILL_DURATION_MS", 20000);
    long intervalMs = env("COSMOSEAL_DRILL_INTERVAL_MS", 50);
    long opTimeoutMs = env("COSMOSEAL_DRILL_OP_TIMEOUT_MS", 5000);
    // The builder checks preferredRegions by deriving "<host>-<region>" from the endpoint's first
    // label, which is not a host name for 127.0.0.1: use localhost (the test certificate has it).
    String endpoint = System.getenv("COSMOSEAL_DRILL_ENDPOINT").replace("://127.0.0.1:", "://localhost:");
    CosmosClient client = new CosmosClientBuilder()
        .endpoint(endpoint)
        .key(System.getenv("COSMOSEAL_DRILL_KEY"))
        .gatewayMode()
        .endpointDiscoveryEnabled(true)
        .preferredRegions(List.of(System.getenv("COSMOSEAL_DRILL_PREFERRED")))
        .buildClient();
    CosmosContainer container = client.getDatabase(System.getenv("COSMOSEAL_DRILL_DATABASE"))
        .getContainer(System.getenv("COSMOSEAL_DRILL_CONTAINER"));
    container.readItem("r0", new PartitionKey("p0"), ObjectNode.class);
    emit(Map.of("ready", true));
    long t0 = System.currentTimeMillis();
    // One options object per operation: the SDK writes the request's partition key into it, so a
    // shared one lets a concurrent read pick up a write's key.
    java.util.function.Supplier<CosmosItemRequestOptions> opts = () -> {
      CosmosItemRequestOptions o = new CosmosItemRequestOptions();
      o.setCosmosEndToEndOperationLatencyPolicyConfig(
          new CosmosEndToEndOperationLatencyPolicyConfigBuilder(Duration.ofMillis(opTimeoutMs)).build());
      return o;
    };

    java.util.function.BiFunction<String, Op, Thread> loop = (kind, op) -> new Thread(() -> {
      for (int i = 0; ; i++) {
        long start = System.currentTimeMillis();
        String id = kind + i;
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("kind", kind);
        rec.put("id", id);
        rec.put("start", start);
        try {
          op.run(i, id);
          rec.put("ok", true);
        } catch (Throwable e) {
          rec.put("ok", false);
          rec.put("error", describe(e));
        }
        rec.put("end", System.currentTimeMillis());
        emit(rec);
        if (System.currentTimeMillis() - t0 >= durationMs) return;
        try {
          Thread.sleep(intervalMs);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    Thread w = loop.apply("w", (i, id) -> {
      ObjectNode doc = JSON.createObjectNode();
      String pk = "p" + (i % 8);
      doc.put("id", id).put("pk", pk).put("ssn", "SSN-" + i);
      container.createItem(doc, new PartitionKey(pk), opts.get());
    });
    Thread r = loop.apply("r", (i, id) -> container.readItem("r0", new PartitionKey("p0"), opts.get(), ObjectNode.class));
    w.start();
    r.start();
    w.join();
    r.join();
    client.close();
    System.exit(0);
  }
}
