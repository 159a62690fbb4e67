package dev.kvfn.kv.tier.redis;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The app configured for a Redis Cluster as the README says ({@code quarkus.redis.client-type=cluster}, every node's
 * URL with the ACL user in its userinfo): {@code warm} looks the prompt's chain up and publishes its blocks across the
 * masters, and the Redis tier reports no fault — a lookup spanning slots sent as one batch would be refused CROSSSLOT.
 */
@QuarkusTest
@TestProfile(RedisClusterFunctionTest.WithCluster.class)
class RedisClusterFunctionTest {

    public static class WithCluster implements QuarkusTestProfile {
        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(ClusterLifecycle.class));
        }

        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.kv.host-store.path", "target/kvfn-host-store-redis-cluster-test-" + UUID.randomUUID());
        }
    }

    public static class ClusterLifecycle implements QuarkusTestResourceLifecycleManager {
        static RedisCluster cluster;
        static Path dir;

        @Override
        public Map<String, String> start() {
            try {
                dir = Files.createTempDirectory("kvfn-redis-cluster");
                cluster = new RedisCluster(dir);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return Map.of("quarkus.redis.client-type", "cluster", "quarkus.redis.hosts", String.join(",", cluster.urls()),
                    "kvfn.kv.redis.lookup-timeout", "2s", "kvfn.kv.secret", "kvfn-function-test-secret-0123456789");
        }

        @Override
        public void stop() {
            try {
                if (cluster != null) cluster.close();
                if (dir != null) {
                    try (var files = Files.walk(dir)) {
                        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    }
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Test
    void warmLooksUpAndPublishesAcrossTheMastersWithoutAFault() throws Exception {
        String prompt = "Every replica of this function shares the blocks of this long system prompt through a Redis Cluster. ".repeat(3);
        JsonPath warm = given().contentType(ContentType.JSON).body(Map.of("prompt", prompt)).post("/warm")
                .then().statusCode(200).extract().jsonPath();
        assertTrue(warm.getBoolean("persisted"));
        int blocks = warm.getInt("cacheableTokens") / warm.getInt("blockTokens");
        assertTrue(blocks >= 4, "a chain of " + blocks + " blocks");
        // publication is asynchronous: wait for every block's two keys (10 min: a hang guard only)
        long keys = 0;
        for (long guard = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(10);
             keys < 2L * blocks && System.nanoTime() < guard; Thread.sleep(10)) {
            keys = 0;
            for (RedisCluster.Node m : ClusterLifecycle.cluster.masters) {
                keys += Long.parseLong(m.server().command("DBSIZE").replaceAll("[^0-9]", ""));
            }
        }
        assertTrue(keys >= 2L * blocks, keys + " keys for " + blocks + " blocks");
        JsonPath cache = dev.kvfn.function.Management.request().get(dev.kvfn.function.CacheReport.PATH).then().statusCode(200)
                .extract().jsonPath(); // the cache report is on the management port
        assertEquals("ok", cache.getString("tiers.find { it.tier == 'redis' }.state"), cache.prettify());
        assertEquals(0, cache.getLong("tiers.find { it.tier == 'redis' }.faults"), cache.prettify());
        assertTrue(cache.getLong("tiers.find { it.tier == 'redis' }.writes") >= blocks, cache.prettify());
    }
}
