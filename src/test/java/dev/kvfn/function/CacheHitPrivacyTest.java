package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The prompt-leak probe (arXiv 2411.18191): a caller sends a guess that shares its first block with another user's
 * prompt and reads whether it hit. With the default {@code kvfn.kv.report-cached-tokens=salted} an unsalted request
 * learns nothing (no {@code cachedTokens}, {@code ttftMillis}, {@code prompt_tokens_details}) although it did hit
 * (the metric says so); a request with its own salt still sees its own hits. The same probe with {@code always}:
 * {@code GenerateFunctionTest.withReportAlwaysAnUnsaltedRequestSeesAnotherUsersBlock}.
 */
@QuarkusTest
@TestProfile(CacheHitPrivacyTest.Default.class)
class CacheHitPrivacyTest {

    /** The production default, which the test profile overrides for the other tests. */
    public static class Default implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.kv.report-cached-tokens", "salted");
        }
    }

    /** A first block (16 tokens and more) no other test sends, then the user's own text. */
    static String prompt(String shared, String rest) {
        return ("The quick brown fox " + shared + " jumps over the lazy dog and keeps running through the field. ").repeat(2) + rest;
    }

    private static JsonPath post(String path, String body) {
        return given().contentType(ContentType.JSON).body(body).post(path).then().statusCode(200).extract().jsonPath();
    }

    private static double cachedTotal() {
        return GenerateFunctionTest.metric(Management.request().get("/q/metrics").then().statusCode(200).extract().asString(), "kvfn_cached_tokens_total");
    }

    @Test
    void anUnsaltedGenerateDoesNotLearnThatAnotherUsersPromptSharesItsFirstBlock() {
        String shared = UUID.randomUUID().toString();
        post("/generate", "{\"prompt\": \"" + prompt(shared, "my password is hunter2") + "\", \"maxTokens\": 1}");
        double before = cachedTotal();
        JsonPath probe = post("/generate", "{\"prompt\": \"" + prompt(shared, "my password is swordfish") + "\", \"maxTokens\": 1}");
        assertTrue(cachedTotal() - before > 0, "the probe did hit the victim's blocks (else this test proves nothing)");
        assertNull(probe.get("cachedTokens"), "cachedTokens disclosed: " + probe.prettify());
        assertNull(probe.get("ttftMillis"), "ttftMillis disclosed: " + probe.prettify());
        assertTrue(probe.getInt("promptTokens") > 16, "the rest of the answer stays");
    }

    @Test
    void anUnsaltedOpenAiRequestGetsNoPromptTokensDetails() {
        String shared = UUID.randomUUID().toString();
        post("/v1/completions", "{\"prompt\": \"" + prompt(shared, "victim") + "\", \"max_tokens\": 1}");
        double before = cachedTotal();
        JsonPath completion = post("/v1/completions", "{\"prompt\": \"" + prompt(shared, "probe") + "\", \"max_tokens\": 1}");
        JsonPath chat = post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"" + prompt(shared, "probe")
                + "\"}], \"max_tokens\": 1}");
        assertTrue(cachedTotal() - before > 0, "the probe did hit the victim's blocks");
        assertTrue(completion.getInt("usage.prompt_tokens") > 16);
        assertNull(completion.get("usage.prompt_tokens_details"), completion.prettify());
        assertNull(chat.get("usage.prompt_tokens_details"), chat.prettify());
        String stream = given().contentType(ContentType.JSON).body("{\"prompt\": \"" + prompt(shared, "probe") + "\", \"max_tokens\": 1,"
                + " \"stream\": true, \"stream_options\": {\"include_usage\": true}}").post("/v1/completions").then().statusCode(200)
                .extract().asString();
        assertTrue(stream.contains("\"prompt_tokens\""), stream);
        assertFalse(stream.contains("cached_tokens"), "a stream's usage chunk disclosed it: " + stream);
    }

    @Test
    void aSaltedRequestSeesItsOwnHits() {
        String salt = "tenant-" + UUID.randomUUID();
        String body = "{\"prompt\": \"" + prompt("salted", "question one") + "\", \"maxTokens\": 1, \"cacheSalt\": \"" + salt + "\"}";
        JsonPath first = post("/generate", body);
        JsonPath second = post("/generate", body);
        assertTrue(first.getInt("cachedTokens") == 0 && first.getDouble("ttftMillis") >= 0, first.prettify());
        assertTrue(second.getInt("cachedTokens") >= 16, second.prettify());
        JsonPath v1 = post("/v1/completions", "{\"prompt\": \"" + prompt("salted", "question two") + "\", \"max_tokens\": 1,"
                + " \"cache_salt\": \"" + salt + "\"}");
        assertTrue(v1.getInt("usage.prompt_tokens_details.cached_tokens") >= 16, v1.prettify());
    }
}
