package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.kvfn.function.GenerateFunctionTest.metric;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code warm} and {@code cache} over plain HTTP and CloudEvents (binary and structured), with the host tier on. */
@QuarkusTest
class CacheFunctionsTest {
    /** The host store outlives the test JVM (that is its point): salts unique to this run keep the tests independent. */
    static final String RUN = java.util.UUID.randomUUID().toString();
    static final String SYSTEM = "You are a helpful assistant who answers questions about the weather in short sentences. "
            + "Always say which city you mean and never guess. ";

    @Test
    void warmComputesAndPersistsAPrefixThatGenerateThenReuses() {
        JsonPath warm = given().contentType(ContentType.JSON)
                .body(Map.of("prompt", SYSTEM, "cacheSalt", "warm-test" + RUN)).post("/warm")
                .then().statusCode(200).extract().jsonPath();
        int cacheable = warm.getInt("cacheableTokens");
        assertTrue(cacheable > 0 && cacheable <= warm.getInt("promptTokens"), warm.prettify());
        assertEquals(0, warm.getInt("cachedTokens"));
        assertTrue(warm.getBoolean("persisted"), "blocks reached the host store");

        JsonPath again = given().contentType(ContentType.JSON)
                .body(Map.of("prompt", SYSTEM, "cacheSalt", "warm-test" + RUN)).post("/warm").then().statusCode(200).extract().jsonPath();
        assertTrue(again.getInt("cachedTokens") > 0, "a second warm finds the prefix cached");

        int cachedByGenerate = given().contentType(ContentType.JSON)
                .body(Map.of("prompt", SYSTEM + "What is the weather in Oslo?", "maxTokens", 3, "cacheSalt", "warm-test" + RUN))
                .post("/generate").then().statusCode(200).extract().path("cachedTokens");
        assertTrue(cachedByGenerate > 0, "generate reuses the warmed prefix");
        int otherTenant = given().contentType(ContentType.JSON)
                .body(Map.of("prompt", SYSTEM + "What is the weather in Oslo?", "maxTokens", 3, "cacheSalt", "someone-else" + RUN))
                .post("/generate").then().statusCode(200).extract().path("cachedTokens");
        assertEquals(0, otherTenant, "another salt never sees it");
    }

    @Test
    void cacheReportsEveryTier() {
        given().contentType(ContentType.JSON).body(Map.of("prompt", SYSTEM + "Bergen.", "cacheSalt", "cache-test" + RUN)).post("/warm")
                .then().statusCode(200);
        given().contentType(ContentType.JSON).body(Map.of("prompt", SYSTEM + "Bergen.", "maxTokens", 2, "cacheSalt", "cache-test" + RUN))
                .post("/generate").then().statusCode(200);
        JsonPath cache = Management.request().get(CacheReport.PATH).then().statusCode(200).extract().jsonPath();
        List<String> tiers = cache.getList("tiers.tier");
        assertEquals(List.of("pool", "host"), tiers, "no Redis configured in tests: pool and host");
        assertTrue(cache.getLong("promptTokens") > 0);
        assertTrue(cache.getDouble("hitRate") > 0 && cache.getDouble("hitRate") <= 1, cache.prettify());
        assertTrue(cache.getLong("tiers[1].blocks") > 0, "the host store holds blocks: " + cache.prettify());
        assertTrue(cache.getLong("tiers[1].capacityBlocks") >= cache.getLong("tiers[1].blocks"));
        assertTrue(cache.getLong("tiers[0].hitTokens") > 0);

        String metrics = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        for (String name : List.of("kvfn_kv_spill_bytes_total", "kvfn_kv_restore_seconds_count", "kvfn_kv_faults_total",
                "kvfn_kv_blocks_capacity", "kvfn_kv_spill_dropped_total")) {
            assertTrue(metrics.contains(name), name + " missing from /q/metrics");
        }
        assertTrue(metrics.lines().anyMatch(l -> l.startsWith("kvfn_cached_tokens_total{") && l.contains("tier=\"host\"")));
        assertTrue(metric(metrics.lines().filter(l -> l.contains("tier=\"host\"")).reduce("", (a, b) -> a + b + "\n"),
                "kvfn_kv_spill_bytes_total") > 0, "blocks were spilled to the host store");
    }

    @Test
    void bothFunctionsAnswerCloudEventsInBothModes() {
        // warm: structured mode; cache: binary mode (the test below covers the other two combinations)
        given().contentType("application/cloudevents+json")
                .body(Map.of("specversion", "1.0", "id", "w2", "type", "dev.kvfn.warm", "source", "test",
                        "datacontenttype", "application/json", "data", Map.of("prompt", SYSTEM)))
                .post("/").then().statusCode(200)
                .body("type", equalTo("dev.kvfn.warm.result"))
                .body("data.persisted", equalTo(true));
        // a bad event is answered with an error, not retried into a loop
        given().contentType(ContentType.JSON)
                .header("ce-id", "w3").header("ce-specversion", "1.0").header("ce-type", "dev.kvfn.warm").header("ce-source", "test")
                .body("{}")
                .post("/").then().statusCode(400);
    }

    @Test
    void bothFunctionsAnswerCloudEvents() {
        given().contentType(ContentType.JSON)
                .header("ce-id", "w1").header("ce-specversion", "1.0").header("ce-type", "dev.kvfn.warm").header("ce-source", "test")
                .body(Map.of("prompt", SYSTEM))
                .post("/").then().statusCode(200)
                .header("ce-type", "dev.kvfn.warm.result")
                .body("persisted", equalTo(true));
    }

    /** The cache report discloses every tenant's hits: served on the management port only, refused on the public one. */
    @Test
    void theCacheReportIsOnTheManagementPortOnly() {
        Management.request().get(CacheReport.PATH).then().statusCode(200).body("tiers[0].tier", equalTo("pool"));
        given().contentType(ContentType.JSON).body("{}").post("/cache").then().statusCode(404)
                .body("error.message", containsString("management interface, GET /q/cache"));
        given().contentType(ContentType.JSON)
                .header("ce-id", "c2").header("ce-specversion", "1.0").header("ce-type", "dev.kvfn.cache").header("ce-source", "test")
                .body("{}").post("/").then().statusCode(404).body("error.message", containsString("management interface"));
        given().contentType("application/cloudevents+json")
                .body(Map.of("specversion", "1.0", "id", "c1", "type", "dev.kvfn.cache", "source", "test",
                        "datacontenttype", "application/json", "data", Map.of()))
                .post("/").then().statusCode(404).body(containsString("management interface"));
        // nor health and metrics: they too are operators' numbers
        given().get("/q/metrics").then().statusCode(404);
        given().get("/q/health/ready").then().statusCode(404);
        given().get(CacheReport.PATH).then().statusCode(404);
    }

    @Test
    void warmRefusesAnEmptyPrompt() {
        given().contentType(ContentType.JSON).body("{}").post("/warm").then().statusCode(400)
                .body("error.message", containsString("prompt"));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "")).post("/warm").then().statusCode(400);
    }
}
