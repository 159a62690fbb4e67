package dev.kvfn.engine.trtllm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** deploy/knative-service-trtllm.yaml parses, selects the TensorRT-LLM engine with keys kvfn reads, and asks for a GPU. */
class TrtllmManifestTest {
    @Test
    void theGpuServiceSelectsTheTrtllmEngine() throws Exception {
        JsonNode svc = new ObjectMapper(new YAMLFactory()).readTree(Path.of("deploy", "knative-service-trtllm.yaml").toFile());
        assertEquals("Service", svc.path("kind").asText());
        JsonNode template = svc.path("spec").path("template");
        assertEquals("0", template.path("metadata").path("annotations").path("autoscaling.knative.dev/min-scale").asText());
        JsonNode container = template.path("spec").path("containers").get(0);
        Map<String, String> env = new HashMap<>();
        for (JsonNode e : container.path("env")) env.put(e.path("name").asText(), e.path("value").asText());
        assertEquals("trtllm", env.get("KVFN_ENGINE"), "the env name of kvfn.engine");
        assertTrue(env.containsKey("KVFN_TRTLLM_ENGINE_DIR") && env.containsKey("KVFN_TRTLLM_VOCABULARY"));
        assertTrue(env.get("LD_LIBRARY_PATH").contains("/opt/kvfn/lib"), "where libkvfn_trtllm.so is");
        assertEquals("/q/health/ready", container.path("readinessProbe").path("httpGet").path("path").asText());
        for (String probe : new String[] {"readinessProbe", "livenessProbe", "startupProbe"}) {
            assertEquals(9000, container.path(probe).path("httpGet").path("port").asInt(), probe + " on the management port");
        }
        assertTrue(container.path("resources").path("limits").has("nvidia.com/gpu"));
    }
}
