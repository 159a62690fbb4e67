package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.http.client.jdk.JdkHttpClient;
import dev.langchain4j.http.client.jdk.JdkHttpClientBuilder;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LangChain4j (langchain4j-open-ai and langchain4j 1.19.0), unmodified, against the running app on the synthetic
 * tiny model (with a 2048-token context, {@link LongContextModel}), through its JDK HttpClient forced to HTTP/1.1 and to HTTP/2 (cleartext: the h2c upgrade, as
 * the JDK client does by default). Every answer is checked against kvfn's own greedy text.
 */
@QuarkusTest
@TestProfile(LongContextModel.class) // room in the context for tool definitions
class LangChain4jCompatTest {

    enum Wire { HTTP_1_1, HTTP_2 }

    /** A plain AiServices interface: one method, a String back. */
    interface Storyteller {
        String tell(String prompt);
    }

    @Inject
    Engine engine;

    @TestHTTPResource("/v1")
    URL v1;

    JdkHttpClientBuilder http(Wire wire) {
        return JdkHttpClient.builder().httpClientBuilder(HttpClient.newBuilder()
                .version(wire == Wire.HTTP_2 ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1));
    }

    ChatModel chatModel(Wire wire, int maxTokens) {
        return OpenAiChatModel.builder().baseUrl(v1.toString()).apiKey("unused").modelName(engine.model().name())
                .temperature(0.0).maxTokens(maxTokens).maxRetries(0).timeout(Duration.ofMinutes(5))
                .httpClientBuilder(http(wire)).build();
    }

    static String greedyChat(String user, int maxTokens) {
        return given().contentType(ContentType.JSON)
                .body(Map.of("messages", List.of(Map.of("role", "user", "content", user)), "max_tokens", maxTokens, "temperature", 0))
                .post("/v1/chat/completions").then().statusCode(200).extract().path("choices[0].message.content");
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void chat(Wire wire) {
        String expected = greedyChat("Tell me a story", 8);
        ChatResponse r = chatModel(wire, 8).chat(UserMessage.from("Tell me a story"));
        assertEquals(expected, r.aiMessage().text());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(8, r.tokenUsage().outputTokenCount());
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void streamingChat(Wire wire) throws Exception {
        String expected = greedyChat("Tell me a story", 12);
        StreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(v1.toString()).apiKey("unused")
                .modelName(engine.model().name()).temperature(0.0).maxTokens(12).timeout(Duration.ofMinutes(5))
                .httpClientBuilder(http(wire)).build();
        StringBuilder partials = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat("Tell me a story", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                partials.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(5, TimeUnit.MINUTES); // bound only: the stream ends on its own
        assertEquals(expected, partials.toString());
        assertEquals(expected, r.aiMessage().text());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void aiServicesWithAStringReturn(Wire wire) {
        String expected = greedyChat("Once upon a time", 8);
        Storyteller storyteller = AiServices.create(Storyteller.class, chatModel(wire, 8));
        assertEquals(expected, storyteller.tell("Once upon a time"));
    }

    /** What the JDK client negotiates when asked for HTTP/2 on http://: the h2c upgrade, then HTTP/2 frames. */
    @Test
    void theJdkClientReallySpeaksHttp2() throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2}";
        for (int i = 0; i < 2; i++) { // the first rides the upgrade, the second an established HTTP/2 connection
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(v1 + "/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(HttpClient.Version.HTTP_2, r.version());
        }
    }

    enum Unit { CELSIUS, FAHRENHEIT }

    /**
     * A tool whose result goes straight back to the caller (IMMEDIATE): a forced call would otherwise repeat. The
     * days are a long: LangChain4j's schema for a Java int is a plain JSON integer, which may have up to 16 digits.
     */
    static final class WeatherTools {
        final List<String> calls = new java.util.concurrent.CopyOnWriteArrayList<>();

        @dev.langchain4j.agent.tool.Tool(name = "get_weather", value = "The weather forecast",
                returnBehavior = dev.langchain4j.agent.tool.ReturnBehavior.IMMEDIATE)
        String getWeather(@dev.langchain4j.agent.tool.P("unit") Unit unit, @dev.langchain4j.agent.tool.P("days") long days) {
            String answer = "sunny for " + days + " days in " + unit;
            calls.add(answer);
            return answer;
        }
    }

    interface Forecaster {
        dev.langchain4j.service.Result<String> ask(String question);
    }

    enum Mood { HAPPY, SAD, SLEEPY }

    record Pet(Mood mood, int legs, boolean fluffy) {}

    interface PetDescriber {
        Pet describe(String text);
    }

    /** Records what went over the wire: the request LangChain4j built and the answer's raw text. */
    static final class Recorder implements dev.langchain4j.model.chat.listener.ChatModelListener {
        final List<dev.langchain4j.model.chat.request.ChatRequest> requests = new java.util.concurrent.CopyOnWriteArrayList<>();
        final List<ChatResponse> responses = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public void onRequest(dev.langchain4j.model.chat.listener.ChatModelRequestContext c) {
            requests.add(c.chatRequest());
        }

        @Override
        public void onResponse(dev.langchain4j.model.chat.listener.ChatModelResponseContext c) {
            responses.add(c.chatResponse());
        }
    }

    /** AiServices with a tool, the call forced by LangChain4j's tool choice REQUIRED: the tool runs with parsed arguments. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void aiServicesWithAForcedTool(Wire wire) throws Exception {
        Recorder recorder = new Recorder();
        ChatModel model = OpenAiChatModel.builder().baseUrl(v1.toString()).apiKey("unused").maxRetries(0)
                .timeout(Duration.ofMinutes(5)).httpClientBuilder(http(wire)).listeners(List.of(recorder))
                .defaultRequestParameters(dev.langchain4j.model.openai.OpenAiChatRequestParameters.builder()
                        .modelName(engine.model().name()).temperature(0.0).maxOutputTokens(200)
                        .toolChoice(dev.langchain4j.model.chat.request.ToolChoice.REQUIRED).build())
                .build();
        WeatherTools tools = new WeatherTools();
        Forecaster forecaster = AiServices.builder(Forecaster.class).chatModel(model).tools(tools).build();
        dev.langchain4j.service.Result<String> result = forecaster.ask("Will it rain?");

        assertEquals(1, tools.calls.size(), "the tool ran once");
        assertEquals(1, result.toolExecutions().size());
        var execution = result.toolExecutions().get(0);
        assertEquals("get_weather", execution.request().name());
        assertEquals(tools.calls.get(0), execution.result());
        // the arguments kvfn wrote are the ones the tool was called with
        var args = new com.fasterxml.jackson.databind.ObjectMapper().readTree(execution.request().arguments());
        assertEquals("sunny for " + args.get("days").longValue() + " days in " + args.get("unit").textValue(), tools.calls.get(0));
        assertEquals(1, recorder.responses.size());
        assertEquals(FinishReason.TOOL_EXECUTION, recorder.responses.get(0).finishReason());
        assertEquals(dev.langchain4j.model.chat.request.ToolChoice.REQUIRED, recorder.requests.get(0).toolChoice());
    }

    /** AiServices with a record return type over json_schema (strict): the record is what kvfn wrote. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void aiServicesWithAStructuredReturn(Wire wire) throws Exception {
        Recorder recorder = new Recorder();
        ChatModel model = OpenAiChatModel.builder().baseUrl(v1.toString()).apiKey("unused").modelName(engine.model().name())
                .temperature(0.0).maxTokens(200).maxRetries(0).timeout(Duration.ofMinutes(5)).httpClientBuilder(http(wire))
                .supportedCapabilities(dev.langchain4j.model.chat.Capability.RESPONSE_FORMAT_JSON_SCHEMA).strictJsonSchema(true)
                .listeners(List.of(recorder)).build();
        Pet pet = AiServices.create(PetDescriber.class, model).describe("A cat on a sofa");

        assertEquals(dev.langchain4j.model.chat.request.ResponseFormatType.JSON, recorder.requests.get(0).responseFormat().type(),
                "LangChain4j sent a json_schema response_format");
        assertTrue(recorder.requests.get(0).responseFormat().jsonSchema() != null, "with the record's schema");
        String raw = recorder.responses.get(0).aiMessage().text();
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(raw);
        assertEquals(json.get("mood").textValue(), pet.mood().name(), raw);
        assertEquals(json.get("legs").intValue(), pet.legs(), raw);
        assertEquals(json.get("fluffy").booleanValue(), pet.fluffy(), raw);
        assertEquals(FinishReason.STOP, recorder.responses.get(0).finishReason());
    }
}
