package dev.kvfn.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The manifests in deploy/ parse and keep the fields that make kvfn a scale-to-zero function, so they cannot rot. */
class DeployManifestsTest {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    static JsonNode read(String file) throws Exception {
        return YAML.readTree(Path.of("deploy", file).toFile());
    }

    static void checkService(JsonNode svc, boolean gpu) {
        assertEquals("serving.knative.dev/v1", svc.path("apiVersion").asText());
        assertEquals("Service", svc.path("kind").asText());
        JsonNode template = svc.path("spec").path("template");
        assertEquals("0", template.path("metadata").path("annotations").path("autoscaling.knative.dev/min-scale").asText());
        JsonNode spec = template.path("spec");
        assertTrue(spec.path("containerConcurrency").asInt() > 0, "containerConcurrency");
        JsonNode container = spec.path("containers").get(0);
        assertEquals("/q/health/ready", container.path("readinessProbe").path("httpGet").path("path").asText());
        assertEquals(9000, container.path("readinessProbe").path("httpGet").path("port").asInt(), "probes on the management port");
        assertEquals(9000, container.path("livenessProbe").path("httpGet").path("port").asInt(), "probes on the management port");
        JsonNode redis = null;
        for (JsonNode env : container.path("env")) {
            if (env.path("name").asText().equals("QUARKUS_REDIS_HOSTS")) redis = env;
        }
        assertTrue(redis != null && redis.path("valueFrom").path("secretKeyRef").path("name").asText().equals("kvfn-redis"),
                "Redis URL from the kvfn-redis Secret");
        assertEquals("kvfn-kv-secret", env(container, "KVFN_KV_SECRET").path("valueFrom").path("secretKeyRef").path("name").asText(),
                "kvfn.kv.secret from its own Secret");
        assertEquals("password", env(container, "QUARKUS_REDIS_PASSWORD").path("valueFrom").path("secretKeyRef").path("key").asText(),
                "the Redis password from the Secret's own key, not inside the URL");
        assertTrue(env(container, "KVFN_KV_HOST_STORE_PATH").path("value").asText().contains("{uid}"), "a per-user host store");
        boolean memoryHostStore = false;
        for (JsonNode v : spec.path("volumes")) {
            if (v.path("emptyDir").path("medium").asText().equals("Memory")) memoryHostStore = true;
        }
        assertTrue(memoryHostStore, "host KV store on an emptyDir with medium: Memory");
        assertEquals(gpu, container.path("resources").path("limits").has("nvidia.com/gpu"), "GPU resources only on the GPU variant");
    }

    static JsonNode env(JsonNode container, String name) {
        for (JsonNode env : container.path("env")) {
            if (env.path("name").asText().equals(name)) return env;
        }
        throw new AssertionError("no env " + name);
    }

    @Test
    void knativeServices() throws Exception {
        checkService(read("knative-service-cpu.yaml"), false);
        checkService(read("knative-service-gpu.yaml"), true);
    }

    @Test
    void triggerDeliversGenerateEventsToTheService() throws Exception {
        JsonNode t = read("knative-trigger.yaml");
        assertEquals("Trigger", t.path("kind").asText());
        assertEquals("dev.kvfn.generate", t.path("spec").path("filter").path("attributes").path("type").asText());
        assertEquals("kvfn", t.path("spec").path("subscriber").path("ref").path("name").asText());
    }

    @Test
    void redisSecretHasTheUrlKey() throws Exception {
        JsonNode s = read("redis-secret.yaml");
        assertEquals("Secret", s.path("kind").asText());
        assertEquals("kvfn-redis", s.path("metadata").path("name").asText());
        String url = s.path("stringData").path("url").asText();
        assertTrue(url.startsWith("redis"));
        assertFalse(url.matches("rediss?://[^/@]*:[^/@]*@.*"), "no password inside the URL: " + url);
        assertTrue(s.path("stringData").has("password"));
    }

    @Test
    void kvSecretIsAClearlyMarkedPlaceholderThatKvfnRefuses() throws Exception {
        JsonNode s = read("kv-secret.yaml");
        assertEquals("Secret", s.path("kind").asText());
        assertEquals("kvfn-kv-secret", s.path("metadata").path("name").asText());
        String placeholder = s.path("stringData").path("secret").asText();
        assertTrue(placeholder.contains("CHANGE-ME"));
        var refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> dev.kvfn.kv.seal.KvSecret.of(placeholder));
        assertTrue(refused.getMessage().contains("placeholder"), refused.getMessage());
    }

    @Test
    void samTemplateServesEveryPathThroughTheQuarkusHandler() throws Exception {
        // SAM's short-form tags (!Ref, !Sub) are plain tagged scalars to a generic YAML reader
        JsonNode sam = read("sam-template.yaml");
        JsonNode fn = sam.path("Resources").path("KvfnFunction");
        assertEquals("AWS::Serverless::Function", fn.path("Type").asText());
        assertEquals("io.quarkus.amazon.lambda.runtime.QuarkusStreamHandler::handleRequest", fn.path("Properties").path("Handler").asText());
        assertEquals("../target/function.zip", fn.path("Properties").path("CodeUri").asText());
        JsonNode http = fn.path("Properties").path("Events").path("Http");
        assertEquals("HttpApi", http.path("Type").asText());
        assertEquals("/{proxy+}", http.path("Properties").path("Path").asText());
        assertTrue(fn.path("Properties").path("Environment").path("Variables").path("JDK_JAVA_OPTIONS").asText()
                .contains("jdk.incubator.vector"), "the Vector API module on Lambda too");
    }

    @Test
    void dockerfilesAreMultiStageAndRunTheLauncherAsANonRootUser() throws Exception {
        for (String f : List.of("Dockerfile.jvm", "Dockerfile.native")) {
            List<String> lines = Files.readAllLines(Path.of("deploy", f));
            assertTrue(lines.stream().filter(l -> l.startsWith("FROM ")).count() >= 2, f + " is multi-stage");
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("USER 1001")), f + " runs as a non-root user");
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("ENTRYPOINT [\"/app/kvfn\"")), f + " starts kvfn");
            assertFalse(lines.stream().anyMatch(l -> l.contains("-DskipTests=false")), f);
        }
        assertTrue(Files.readString(Path.of("deploy", "Dockerfile.native")).contains("mandrel"), "native builds on Mandrel");
    }
}
