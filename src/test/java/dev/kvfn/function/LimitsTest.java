package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One request at a time and a three-second deadline, on a model too slow to finish 2000 tokens in that time (the window also leaves room to send the second request while the first runs). */
@QuarkusTest
@TestProfile(LimitsTest.OneAtATime.class)
class LimitsTest {

    public static class OneAtATime implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.model.path", DisconnectTest.slowModel().toString(),
                    "kvfn.limits.max-requests", "1",
                    "kvfn.limits.request-timeout", "3s");
        }
    }

    static String longGenerate() {
        return given().contentType(ContentType.JSON).body("{\"prompt\": \"Once upon a time\", \"maxTokens\": 2000}")
                .post("/generate").then().extract().asString();
    }

    @Test
    void aRequestPastItsDeadlineIsCancelledWithWhatItHad() {
        GenerateOutput out = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Once upon a time\", \"maxTokens\": 2000}")
                .post("/generate").then().statusCode(200).extract().as(GenerateOutput.class);
        assertEquals("cancelled", out.finishReason());
        assertTrue(out.completionTokens() < 2000, "stopped early: " + out.completionTokens());
    }

    @Test
    void aFullReplicaAnswers429WithRetryAfter() throws Exception {
        CompletableFuture<String> running = CompletableFuture.supplyAsync(LimitsTest::longGenerate);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (GenerateFunctionTest.metric(given().get("/q/metrics").asString(), "kvfn_requests_in_flight") < 1
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        given().contentType(ContentType.JSON).body("{\"prompt\": \"hi\", \"maxTokens\": 2}").post("/generate").then()
                .statusCode(429).header("Retry-After", "1")
                .body("error.message", containsString("max-requests"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"hi\", \"max_tokens\": 2}").post("/v1/completions").then()
                .statusCode(429).header("Retry-After", "1")
                .body("error.type", equalTo("rate_limit_error"));
        assertTrue(running.get(30, TimeUnit.SECONDS).contains("\"finishReason\":\"cancelled\""));
    }
}
