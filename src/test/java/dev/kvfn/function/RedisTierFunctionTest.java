package dev.kvfn.function;

import dev.kvfn.kv.tier.redis.RedisServer;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The app with {@code quarkus.redis.hosts} set (a real redis-server started for this test): the
 * Quarkus Redis client is picked up, {@code warm} publishes the prefix's blocks to Redis, and
 * {@code cache} reports the redis tier; with Redis hung (SIGSTOP) readiness answers at once, UP, and requests are served.
 */
@QuarkusTest
@TestProfile(RedisTierFunctionTest.WithRedis.class)
class RedisTierFunctionTest {

    public static class WithRedis implements QuarkusTestProfile {
        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(RedisLifecycle.class));
        }

        @Override
        public Map<String, String> getConfigOverrides() {
            // its own host store, so blocks must come from this run's computation
            return Map.of("kvfn.kv.host-store.path", "target/kvfn-host-store-redis-test-" + UUID.randomUUID());
        }
    }

    public static class RedisLifecycle implements QuarkusTestResourceLifecycleManager {
        static RedisServer server;

        @Override
        public Map<String, String> start() {
            try {
                server = new RedisServer();
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
            // sharing bytes through Redis needs the deployment's secret (refused at start-up without one)
            return Map.of("quarkus.redis.hosts", server.url(), "kvfn.kv.redis.lookup-timeout", "500ms",
                    "kvfn.kv.secret", "kvfn-function-test-secret-0123456789");
        }

        @Override
        public void stop() {
            try {
                if (server != null) server.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Test
    void aHungRedisNeitherFailsReadinessNorStopsServing() throws Exception {
        RedisLifecycle.server.hang(true); // SIGSTOP: the port accepts, nothing answers
        try {
            // UP, not a 503 after Quarkus's 10 s Redis probe: readiness does no Redis I/O (no wall-clock bound here,
            // a busy machine must not fail this test)
            Management.request().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
            String prompt = "A replica whose Redis hangs still answers every request, it only loses the shared hits. ".repeat(2);
            given().contentType(ContentType.JSON).body(Map.of("prompt", prompt, "maxTokens", 4)).post("/generate")
                    .then().statusCode(200);
            // the hang is reported, not hidden: the cache function shows the tier failing
            JsonPath cache = Management.request().get(CacheReport.PATH).then().statusCode(200).extract().jsonPath();
            assertTrue(cache.getString("tiers.find { it.tier == 'redis' }.state").startsWith("failing"), cache.prettify());
            Management.request().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
            Management.request().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        } finally {
            RedisLifecycle.server.hang(false);
        }
    }

    @Test
    void warmPublishesToRedisAndCacheReportsTheTier() throws Exception {
        String salt = "redis-fn-" + UUID.randomUUID();
        String prompt = "Every replica of this function can restore the blocks of this shared system prompt from Redis. ".repeat(2);
        JsonPath warm = given().contentType(ContentType.JSON).body(Map.of("prompt", prompt, "cacheSalt", salt)).post("/warm")
                .then().statusCode(200).extract().jsonPath();
        assertTrue(warm.getBoolean("persisted"));
        int blocks = warm.getInt("cacheableTokens") / warm.getInt("blockTokens");
        assertTrue(blocks > 0);
        long keys = 0;
        // publication is asynchronous: wait for the keys, however long a busy machine takes (10 min: a hang guard only)
        for (long guard = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(10);
             keys < 2L * blocks && System.nanoTime() < guard; Thread.sleep(10)) {
            keys = Long.parseLong(RedisLifecycle.server.command("DBSIZE").replaceAll("[^0-9]", ""));
        }
        assertTrue(keys >= 2L * blocks, "a data and an index key per block: " + keys + " keys for " + blocks + " blocks");
        String scan = RedisLifecycle.server.command("KEYS kvfn:*:m:*");
        assertTrue(scan.contains("kvfn:"), scan);

        JsonPath cache = Management.request().get(CacheReport.PATH).then().statusCode(200).extract().jsonPath();
        assertEquals(List.of("pool", "host", "redis"), cache.getList("tiers.tier"));
        assertTrue(cache.getLong("tiers[2].writes") >= blocks, cache.prettify());
        assertEquals(0, cache.getLong("tiers[2].faults"));
        assertEquals(List.of("ok", "ok", "ok"), cache.getList("tiers.state"), cache.prettify());
    }
}
