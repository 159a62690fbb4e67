package dev.kvfn.function;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A full replica refuses before it reads a request: the capacity check is the first thing a generation request
 * meets, so a burst of long prompts is refused without parsing or tokenizing any of them.
 */
@QuarkusTest
@TestProfile(AdmissionTest.OneAtATime.class)
class AdmissionTest {

    public static class OneAtATime implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.model.path", DisconnectTest.slowModel().toString(), "kvfn.limits.max-requests", "1");
        }
    }

    @TestHTTPResource("/")
    URL base;

    /** 200 requests at once, each must be refused (429); prints the latencies and returns the p99 in ms. */
    double burst(String prompt, String label, boolean preconnect) throws Exception {
        String generate = "{\"prompt\": \"" + prompt + "\", \"maxTokens\": 8}";
        RequestBurst.Result r = RequestBurst.send(base.getHost(), base.getPort(), "/generate", generate, 200, preconnect);
        System.out.println("AdmissionTest: " + label + (preconnect ? " (connections open)" : " (connecting)") + ": " + r);
        assertEquals(Map.of(429, 200), r.statuses(), r.toString());
        return r.p99Millis();
    }

    @Test
    void aFullReplicaRefusesABurstBeforeReadingAnyOfIt() throws Exception {
        // one long streaming generation fills the replica; closing its socket at the end cancels it
        String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"stream\": true}";
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null && !line.startsWith("data: "); line = in.readLine()) {
                // headers until the first event: the generation runs
            }

            // not even JSON: refused for capacity (429), never parsed (that would be a 400)
            given().contentType(ContentType.JSON).body("this is {not json").post("/generate").then()
                    .statusCode(429).header("Retry-After", "1").body("error.message", containsString("max-requests"))
                    .body("error.type", equalTo("rate_limit_error"));
            given().contentType(ContentType.JSON).body("{\"prompt\": \"hi\", \"max_tokens\": 2}").post("/v1/completions").then()
                    .statusCode(429).header("Retry-After", "1").body("error.type", equalTo("rate_limit_error"));
            given().contentType(ContentType.JSON).body("{\"messages\": 42").post("/v1/chat/completions").then()
                    .statusCode(429).header("Retry-After", "1").body("error.code", equalTo("queue_full"))
                    .body("error.type", equalTo("rate_limit_error"));

            // bursts of 200 requests with ~400-token prompts, all at once: every one refused, fast (the first burst
            // also warms the client's and the server's code paths; the second is the one measured)
            String prompt = "Once upon a time, in a land far away, there lived a curious little fox who loved stories. ".repeat(20);
            burst(prompt, "warm-up", true);
            double p99 = Math.max(burst(prompt, "measured", true), burst(prompt, "measured", false));
            // generous, a hang guard more than a target: this 2-core machine runs the generation and maybe other builds
            // alongside (p99 ~0.1 s alone, ~1 s at a load of 17); RefusalBench measures it precisely. What proves that
            // no refusal waits for parsing is the unparseable body above, answered 429.
            assertTrue(p99 < 5000, "p99 of the 429s: " + p99 + " ms");
        }
    }
}
