package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.engine.structured.SchemaCheck;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Structured output through the APIs, on the built-in synthetic model: OpenAI's {@code response_format} on
 * {@code /v1/chat/completions} (plain and streamed) and {@code /v1/completions}, and the {@code generate}
 * function's {@code jsonSchema} over HTTP and as a CloudEvent. Outputs are validated by an independent validator.
 */
@QuarkusTest
class StructuredOutputApiTest {
    static final String PERSON = SchemaCheck.SCHEMAS.get(0).replace("\n", "");
    static final String NESTED = SchemaCheck.SCHEMAS.get(1).replace("\n", "");

    static String responseFormat(String schema) {
        return "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"person\", \"strict\": true, \"schema\": " + schema + "}}";
    }

    static String chat(String responseFormat, String extra) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"Who is there?\"}], \"max_tokens\": 120, \"seed\": 5"
                + extra + (responseFormat == null ? "" : ", \"response_format\": " + responseFormat) + "}";
    }

    @Test
    void chatWithAJsonSchemaAnswersAValidInstance() {
        for (int seed = 0; seed < 4; seed++) {
            JsonPath r = given().contentType(ContentType.JSON).body(chat(responseFormat(PERSON), ", \"temperature\": 0.9, \"seed\": " + seed))
                    .post("/v1/chat/completions").then().statusCode(200).extract().jsonPath();
            assertEquals("stop", r.getString("choices[0].finish_reason"));
            String content = r.getString("choices[0].message.content");
            assertEquals(List.of(), SchemaCheck.problems(PERSON, content));
        }
    }

    @Test
    void streamedChatWithAJsonSchemaIsValidWhenJoined() {
        String body = given().contentType(ContentType.JSON).body(chat(responseFormat(NESTED), ", \"stream\": true, \"temperature\": 0.8"))
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        StringBuilder content = new StringBuilder();
        String finish = null;
        for (String event : body.split("\n\n")) {
            String data = event.substring("data: ".length());
            if (data.equals("[DONE]")) break;
            JsonNode chunk = SchemaCheck.parse(data);
            JsonNode choice = chunk.path("choices").path(0);
            content.append(choice.path("delta").path("content").asText(""));
            if (!choice.path("finish_reason").isNull() && !choice.path("finish_reason").isMissingNode()) finish = choice.path("finish_reason").asText();
        }
        assertEquals("stop", finish);
        assertEquals(List.of(), SchemaCheck.problems(NESTED, content.toString()));
    }

    @Test
    void completionsTakeResponseFormatToo() {
        String content = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"A person:\", \"max_tokens\": 120, \"temperature\": 0, \"response_format\": " + responseFormat(PERSON) + "}")
                .post("/v1/completions").then().statusCode(200)
                .body("choices[0].finish_reason", equalTo("stop"))
                .extract().path("choices[0].text");
        assertEquals(List.of(), SchemaCheck.problems(PERSON, content));
    }

    @Test
    void jsonObjectGivesAnObjectAndTextIsFree() {
        for (int seed = 0; seed < 3; seed++) {
            JsonPath r = given().contentType(ContentType.JSON)
                    .body(chat("{\"type\": \"json_object\"}", ", \"temperature\": 0.7, \"seed\": " + seed))
                    .post("/v1/chat/completions").then().statusCode(200).extract().jsonPath();
            String content = r.getString("choices[0].message.content");
            if (r.getString("choices[0].finish_reason").equals("stop")) assertTrue(SchemaCheck.parse(content).isObject(), content);
            else assertTrue(content.trim().startsWith("{"), content);
        }
        String free = given().contentType(ContentType.JSON).body(chat(null, ", \"temperature\": 0, \"max_tokens\": 20"))
                .post("/v1/chat/completions").then().statusCode(200).extract().path("choices[0].message.content");
        given().contentType(ContentType.JSON).body(chat("{\"type\": \"text\"}", ", \"temperature\": 0, \"max_tokens\": 20"))
                .post("/v1/chat/completions").then().statusCode(200).body("choices[0].message.content", equalTo(free));
    }

    @Test
    void cutByMaxTokensIsLength() {
        given().contentType(ContentType.JSON).body(chat(responseFormat(PERSON), ", \"max_tokens\": 3"))
                .post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].finish_reason", equalTo("length"))
                .body("choices[0].message.content", org.hamcrest.Matchers.startsWith("{"));
    }

    @Test
    void badResponseFormatsAre400sNamingTheField() {
        String[][] cases = {
                {responseFormat("{\"type\": \"string\", \"pattern\": \"a+\"}"), "response_format.json_schema.schema"},
                {responseFormat("{\"type\": \"string\", \"pattern\": \"a+\"}"), "\"pattern\""},
                {responseFormat("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\", \"minimum\": 1}}}"), "#/properties/a"},
                {"{\"type\": \"json_schema\"}", "response_format.json_schema"},
                {"{\"type\": \"json_schema\", \"json_schema\": {\"schema\": {}}}", "response_format.json_schema.name"},
                {"{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\"}}", "response_format.json_schema.schema"},
                {"{\"type\": \"yaml\"}", "response_format.type"},
                {"\"json\"", "response_format"}};
        for (String[] c : cases) {
            given().contentType(ContentType.JSON).body(chat(c[0], "")).post("/v1/chat/completions")
                    .then().statusCode(400).body("error.message", containsString(c[1]));
        }
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"x\", \"response_format\": " + responseFormat("{\"oneOf\": []}") + "}")
                .post("/v1/completions").then().statusCode(400).body("error.message", containsString("\"oneOf\""));
    }

    @Test
    void generateWithJsonSchemaAnswersTheValue() {
        for (int seed = 0; seed < 3; seed++) {
            JsonPath out = given().contentType(ContentType.JSON)
                    .body("{\"prompt\": \"A person:\", \"maxTokens\": 120, \"temperature\": 0.9, \"seed\": " + seed + ", \"jsonSchema\": " + PERSON + "}")
                    .post("/generate").then().statusCode(200).extract().jsonPath();
            assertEquals("stop", out.getString("finishReason"));
            assertEquals(List.of(), SchemaCheck.problems(PERSON, out.getString("text")));
            assertEquals(SchemaCheck.parse(out.getString("text")), SchemaCheck.parse(SchemaCheck.JSON.valueToTree(out.getMap("json")).toString()),
                    "json is the text as a value");
        }
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"maxTokens\": 2}").post("/generate")
                .then().statusCode(200).body("$", org.hamcrest.Matchers.not(org.hamcrest.Matchers.hasKey("json")));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"jsonSchema\": {\"type\": \"string\", \"format\": \"email\"}}")
                .post("/generate").then().statusCode(400).body("error.message", containsString("jsonSchema"))
                .body("error.message", containsString("\"format\""));
    }

    @Test
    void aCloudEventInGivesAValidatedObjectOut() {
        JsonPath event = given().contentType("application/cloudevents+json")
                .body("{\"id\": \"7\", \"specversion\": \"1.0\", \"type\": \"dev.kvfn.generate\", \"source\": \"test\","
                        + " \"datacontenttype\": \"application/json\", \"data\": {\"prompt\": \"A person:\", \"maxTokens\": 120,"
                        + " \"temperature\": 0, \"jsonSchema\": " + PERSON + "}}")
                .post("/").then().statusCode(200)
                .body("type", equalTo("dev.kvfn.generate.result"))
                .extract().jsonPath();
        JsonNode json = SchemaCheck.JSON.valueToTree(event.getMap("data.json"));
        assertEquals(List.of(), SchemaCheck.problems(PERSON, json.toString()));
    }
}
