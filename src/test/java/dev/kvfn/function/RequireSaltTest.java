package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

/** {@code kvfn.kv.require-salt=true} (multi-tenant): a request without a salt is a 400 naming the field, in each API's name. */
@QuarkusTest
@TestProfile(RequireSaltTest.SaltRequired.class)
class RequireSaltTest {

    public static class SaltRequired implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.kv.require-salt", "true");
        }
    }

    @Test
    void generateWithoutASaltIsRefusedNamingCacheSalt() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello\", \"maxTokens\": 1}").post("/generate").then()
                .statusCode(400).body("error.message", containsString("\"cacheSalt\" is required"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello\"}").post("/warm").then()
                .statusCode(400).body("error.message", containsString("\"cacheSalt\" is required"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello\", \"maxTokens\": 1, \"cacheSalt\": \"t1\"}").post("/generate")
                .then().statusCode(200);
    }

    @Test
    void openAiRequestsWithoutASaltAreRefusedNamingCacheSalt() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello\", \"max_tokens\": 1}").post("/v1/completions").then()
                .statusCode(400).body("error.param", equalTo("cache_salt")).body("error.message", containsString("\"cache_salt\" is required"));
        given().contentType(ContentType.JSON).body("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 1}")
                .post("/v1/chat/completions").then().statusCode(400).body("error.param", equalTo("cache_salt"));
        given().contentType(ContentType.JSON).body("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 1,"
                + " \"cache_salt\": \"t1\"}").post("/v1/chat/completions").then().statusCode(200);
    }
}
