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

/**
 * LangChain4j (langchain4j-open-ai and langchain4j 1.19.0), unmodified, against the running app on the built-in
 * synthetic model, through its JDK HttpClient forced to HTTP/1.1 and to HTTP/2 (cleartext: the h2c upgrade, as
 * the JDK client does by default). Every answer is checked against kvfn's own greedy text.
 */
@QuarkusTest
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
}
