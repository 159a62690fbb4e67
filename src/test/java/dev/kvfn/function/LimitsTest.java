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
    // a full replica's 429s: AdmissionTest (no request deadline there that could end the running request first)
}
