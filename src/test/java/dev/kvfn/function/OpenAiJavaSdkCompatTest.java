package dev.kvfn.function;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.kvfn.engine.Engine;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import okhttp3.OkHttpClient;
import okhttp3.Protocol;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.URL;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The official OpenAI Java SDK (com.openai:openai-java 4.101.0, OkHttp underneath), unmodified, against the
 * running app on the synthetic tiny model (with a 2048-token context, {@link LongContextModel}): over HTTP/1.1 and over HTTP/2 with prior knowledge (OkHttp's
 * only cleartext HTTP/2). Every answer is checked against kvfn's own greedy text, so a client that parses
 * something wrong fails here, not only one that throws.
 */
@QuarkusTest
@TestProfile(LongContextModel.class) // room in the context for tool definitions
class OpenAiJavaSdkCompatTest {

    enum Wire { HTTP_1_1, HTTP_2 }

    @Inject
    Engine engine;

    @TestHTTPResource("/v1")
    URL v1;

    /** The protocol of every exchange the client made, as OkHttp saw it on the wire. */
    final ConcurrentLinkedQueue<Protocol> protocols = new ConcurrentLinkedQueue<>();

    OpenAIClient client(Wire wire) {
        OkHttpClient.Builder http = new OkHttpClient.Builder().addNetworkInterceptor(chain -> {
            protocols.add(chain.connection().protocol());
            return chain.proceed(chain.request());
        });
        if (wire == Wire.HTTP_2) http.protocols(List.of(Protocol.H2_PRIOR_KNOWLEDGE));
        return OpenAIOkHttpClient.builder().baseUrl(v1.toString()).apiKey("unused").maxRetries(0)
                .timeout(Duration.ofMinutes(5)).okHttpClient(http.build()).build();
    }

    void assertWire(Wire wire) {
        assertFalse(protocols.isEmpty(), "the client made requests");
        Protocol expected = wire == Wire.HTTP_2 ? Protocol.H2_PRIOR_KNOWLEDGE : Protocol.HTTP_1_1;
        for (Protocol p : protocols) assertEquals(expected, p, "every exchange went over " + wire);
    }

    String model() {
        return engine.model().name();
    }

    /** The greedy chat answer as kvfn's own API gives it (plain HTTP, no SDK). */
    String greedyChat(String user, int maxTokens) {
        return given().contentType(ContentType.JSON)
                .body(Map.of("messages", List.of(Map.of("role", "user", "content", user)), "max_tokens", maxTokens, "temperature", 0))
                .post("/v1/chat/completions").then().statusCode(200).extract().path("choices[0].message.content");
    }

    String greedyCompletion(String prompt, int maxTokens) {
        return given().contentType(ContentType.JSON).body(Map.of("prompt", prompt, "maxTokens", maxTokens, "temperature", 0))
                .post("/generate").then().statusCode(200).extract().path("text");
    }

    ChatCompletionCreateParams.Builder chat(String user, int maxTokens) {
        return ChatCompletionCreateParams.builder().model(model()).addUserMessage(user).maxCompletionTokens(maxTokens)
                .temperature(0.0);
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void modelsListAndRetrieve(Wire wire) {
        OpenAIClient client = client(wire);
        assertEquals(List.of(model()), client.models().list().data().stream().map(m -> m.id()).toList());
        assertEquals(model(), client.models().retrieve(model()).id());
        NotFoundException missing = assertThrows(NotFoundException.class, () -> client.models().retrieve("no-such-model"));
        assertEquals(404, missing.statusCode());
        assertEquals("model_not_found", missing.code().orElseThrow());
        assertWire(wire);
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void chat(Wire wire) {
        String expected = greedyChat("Tell me a story", 8);
        ChatCompletion c = client(wire).chat().completions().create(chat("Tell me a story", 8).build());
        assertEquals(expected, c.choices().get(0).message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().get(0).finishReason());
        assertEquals(8, c.usage().orElseThrow().completionTokens());
        assertEquals(model(), c.model());
        assertWire(wire);
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void completion(Wire wire) {
        String expected = greedyCompletion("Hello world", 8);
        Completion c = client(wire).completions().create(CompletionCreateParams.builder().model(model())
                .prompt("Hello world").maxTokens(8).temperature(0.0).build());
        assertEquals(expected, c.choices().get(0).text());
        assertEquals(8, c.usage().orElseThrow().completionTokens());
        assertWire(wire);
    }

    /** The SDK streams with "Accept: text/event-stream" alone; OpenAI's chunk shape: the role in the first delta only. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void streamingChat(Wire wire) {
        String expected = greedyChat("Tell me a story", 12);
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client(wire).chat().completions().createStreaming(
                chat("Tell me a story", 12).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunks::add);
        }
        StringBuilder text = new StringBuilder();
        int withRole = 0;
        for (int i = 0; i < chunks.size() - 1; i++) {
            ChatCompletionChunk.Choice choice = chunks.get(i).choices().get(0);
            if (choice.delta().role().isPresent()) {
                withRole++;
                assertEquals(0, i, "the role comes in the first delta");
            }
            choice.delta().content().ifPresent(text::append);
            assertTrue(chunks.get(i).usage().isEmpty(), "usage only on the last chunk");
        }
        assertEquals(1, withRole, "exactly one delta carries the role");
        assertEquals(expected, text.toString());
        ChatCompletionChunk last = chunks.getLast();
        assertTrue(last.choices().isEmpty(), "the usage chunk has no choices, as OpenAI sends it");
        assertEquals(12, last.usage().orElseThrow().completionTokens());
        assertEquals(ChatCompletionChunk.Choice.FinishReason.LENGTH,
                chunks.get(chunks.size() - 2).choices().get(0).finishReason().orElseThrow());
        assertWire(wire);
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void streamingCompletion(Wire wire) {
        String expected = greedyCompletion("Hello world", 12);
        StringBuilder text = new StringBuilder();
        try (StreamResponse<Completion> stream = client(wire).completions().createStreaming(CompletionCreateParams.builder()
                .model(model()).prompt("Hello world").maxTokens(12).temperature(0.0).build())) {
            stream.stream().forEach(c -> c.choices().forEach(choice -> text.append(choice.text())));
        }
        assertEquals(expected, text.toString());
        assertWire(wire);
    }

    /** Errors arrive as the SDK's typed exceptions, with the field at fault in {@code param}. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void errorsNameTheField(Wire wire) {
        OpenAIClient client = client(wire);
        BadRequestException hot = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 4).temperature(2.5).build()));
        assertEquals("temperature", hot.param().orElseThrow());
        assertEquals("invalid_request_error", hot.type().orElseThrow());
        BadRequestException bias = assertThrows(BadRequestException.class, () -> client.chat().completions().create(
                chat("hi", 4).logitBias(ChatCompletionCreateParams.LogitBias.builder().putAdditionalProperty("42", JsonValue.from(5)).build()).build()));
        assertEquals("logit_bias", bias.param().orElseThrow());
        BadRequestException penalty = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 4).presencePenalty(0.5).build()));
        assertEquals("presence_penalty", penalty.param().orElseThrow());
        BadRequestException n = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 4).n(2).build()));
        assertEquals("n", n.param().orElseThrow());
        BadRequestException zero = assertThrows(BadRequestException.class,
                () -> client.completions().create(CompletionCreateParams.builder().model(model()).prompt("hi").maxTokens(0).build()));
        assertEquals("max_tokens", zero.param().orElseThrow());
        NotFoundException model = assertThrows(NotFoundException.class, () -> client.chat().completions().create(
                ChatCompletionCreateParams.builder().model("no-such-model").addUserMessage("hi").build()));
        assertEquals("model", model.param().orElseThrow());
        assertWire(wire);
    }

    enum Mood { HAPPY, SAD, SLEEPY }

    /** A structured answer: the SDK derives its JSON schema (strict) and parses the content into it. */
    public record Pet(Mood mood, int legs, boolean fluffy) {}

    enum Unit { CELSIUS, FAHRENHEIT }

    /** A function tool from a class, as the SDK builds one: the class name, its fields as the parameters. */
    public record GetWeather(Unit unit, int days) {}

    public record GetTime(boolean utc) {}

    /** {@code responseFormat(Pet.class)}: the SDK sends json_schema and parses the content into a Pet. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void structuredOutput(Wire wire) throws Exception {
        OpenAIClient client = client(wire);
        var params = chat("Describe a pet", 200).responseFormat(Pet.class).build();
        var structured = client.chat().completions().create(params);
        assertEquals(ChatCompletion.Choice.FinishReason.STOP, structured.choices().get(0).finishReason());
        Pet pet = structured.choices().get(0).message().content().orElseThrow();
        // the same request without the SDK's parsing: the JSON kvfn wrote, field by field
        String raw = client.chat().completions().create(params.rawParams()).choices().get(0).message().content().orElseThrow();
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(raw);
        java.util.Set<String> keys = new java.util.HashSet<>();
        json.fieldNames().forEachRemaining(keys::add);
        assertEquals(java.util.Set.of("mood", "legs", "fluffy"), keys, raw);
        assertEquals(json.get("mood").textValue(), pet.mood().name(), raw);
        assertEquals(json.get("legs").intValue(), pet.legs(), raw);
        assertEquals(json.get("fluffy").booleanValue(), pet.fluffy(), raw);
        assertWire(wire);
    }

    /** A forced call ({@code tool_choice: "required"}): the SDK parses tool_calls and the arguments into the class. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void forcedToolCall(Wire wire) {
        OpenAIClient client = client(wire);
        ChatCompletion c = client.chat().completions().create(chat("What is the weather?", 200).addTool(GetWeather.class)
                .toolChoice(com.openai.models.chat.completions.ChatCompletionToolChoiceOption.Auto.REQUIRED).build());
        ChatCompletion.Choice choice = c.choices().get(0);
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason());
        assertTrue(choice.message().content().isEmpty(), "no content beside the call");
        var calls = choice.message().toolCalls().orElseThrow();
        assertEquals(1, calls.size());
        var call = calls.get(0).asFunction();
        assertTrue(call.id().startsWith("call_"), call.id());
        assertEquals("GetWeather", call.function().name());
        GetWeather args = call.function().arguments(GetWeather.class);
        assertTrue(args.unit() != null, call.function().arguments());

        // a named function among two
        ChatCompletion named = client.chat().completions().create(chat("What time is it?", 200).addTool(GetWeather.class)
                .addTool(GetTime.class).toolChoice(com.openai.models.chat.completions.ChatCompletionNamedToolChoice.builder()
                        .function(com.openai.models.chat.completions.ChatCompletionNamedToolChoice.Function.builder().name("GetTime").build())
                        .build()).build());
        var timeCall = named.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function();
        assertEquals("GetTime", timeCall.name());
        GetTime time = timeCall.arguments(GetTime.class);
        assertEquals(new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("utc", time.utc()).toString(),
                timeCall.arguments().replace(" ", ""));
        assertWire(wire);
    }

    /** The forced call streamed: the SDK's accumulator rebuilds it from the deltas. */
    @ParameterizedTest
    @EnumSource(Wire.class)
    void streamedForcedToolCall(Wire wire) {
        var accumulator = com.openai.helpers.ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> stream = client(wire).chat().completions().createStreaming(
                chat("What is the weather?", 200).addTool(GetWeather.class)
                        .toolChoice(com.openai.models.chat.completions.ChatCompletionToolChoiceOption.Auto.REQUIRED).build())) {
            stream.stream().forEach(accumulator::accumulate);
        }
        ChatCompletion c = accumulator.chatCompletion();
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, c.choices().get(0).finishReason());
        var call = c.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function();
        assertEquals("GetWeather", call.name());
        assertTrue(call.arguments(GetWeather.class).unit() != null, call.arguments());
        assertWire(wire);
    }
}
