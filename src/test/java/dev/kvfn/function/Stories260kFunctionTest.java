package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * End to end through HTTP on a real pretrained model: the greedy completion of stories260K.gguf must be
 * llama2.c's reference text, character for character (../shared/models/README.md).
 */
@QuarkusTest
@TestProfile(Stories260kFunctionTest.Stories260k.class)
class Stories260kFunctionTest {
    static final String PROMPT = "Once upon a time";
    /**
     * llama2.c run.c output for {@code -n 96}: 96 forward passes, the last of which still yields a printed
     * token, so the completion is 96 - promptTokens + 1 tokens (promptTokens counts BOS).
     */
    static final String REFERENCE = """
            Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw \
            a big, red ball. She wanted to play with it, but it was too high.
            Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't""";

    static Path model() {
        return Path.of(System.getProperty("kvfn.shared.models", "../shared/models"), "stories260K.gguf");
    }

    public static class Stories260k implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Files.exists(model()) ? Map.of("kvfn.model.path", model().toString()) : Map.of();
        }
    }

    @Test
    void greedyCompletionIsLlama2cReference() {
        assumeTrue(Files.exists(model()), "shared models absent: " + model());
        int promptTokens = given().contentType(ContentType.JSON).body("{\"prompt\": \"" + PROMPT + "\", \"maxTokens\": 1}")
                .post("/generate").then().statusCode(200).extract().path("promptTokens");
        GenerateOutput out = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"" + PROMPT + "\", \"maxTokens\": " + (96 - promptTokens + 1) + ", \"temperature\": 0}")
                .post("/generate").then().statusCode(200).extract().as(GenerateOutput.class);
        assertEquals(REFERENCE, PROMPT + out.text());
        assertEquals("length", out.finishReason());
    }
}
