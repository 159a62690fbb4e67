package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.startsWith;

/**
 * Redis configured but absent (a closed loopback port): the replica starts, is ready and serves;
 * Redis costs hits only, and kvfn's readiness check reports its state without gating on it.
 */
@QuarkusTest
@TestProfile(RedisAbsentFunctionTest.RedisAbsent.class)
class RedisAbsentFunctionTest {

    public static class RedisAbsent implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("quarkus.redis.hosts", "redis://127.0.0.1:" + closedPort(),
                    "kvfn.kv.host-store.path", "target/kvfn-host-store-redis-absent-" + UUID.randomUUID(),
                    "kvfn.kv.secret", "kvfn-function-test-secret-0123456789"); // block bytes through Redis need it
        }
    }

    /** A loopback port nothing listens on (bound, then released). */
    static int closedPort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void readyAndServingWithRedisAbsentWhichIsReportedNotGating() throws Exception {
        Management.request().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "Once upon a time, a replica started without its Redis", "maxTokens", 4))
                .post("/generate").then().statusCode(200).body("completionTokens", greaterThan(0));
        // the write-through publication fails in the background; readiness stays UP and says why Redis costs hits
        String state = "";
        for (int i = 0; i < 3000 && !state.startsWith("failing"); i++) { // bound only: publication is asynchronous
            state = Management.request().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"))
                    .extract().jsonPath().getString("checks.find { it.name == 'kvfn-engine' }.data['tier.redis']");
            if (!state.startsWith("failing")) Thread.sleep(10);
        }
        Management.request().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"))
                .body("checks.find { it.name == 'kvfn-engine' }.data['tier.redis']", startsWith("failing: "));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "Once upon a time, a replica started without its Redis", "maxTokens", 4))
                .post("/generate").then().statusCode(200);
        Management.request().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }
}
