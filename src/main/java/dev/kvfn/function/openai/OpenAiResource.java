package dev.kvfn.function.openai;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.function.BadRequestException;
import dev.kvfn.engine.text.ChatTemplate;
import dev.kvfn.function.GenerationRequests;
import io.vertx.core.http.HttpServerResponse;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.StreamingOutput;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Function;

/**
 * The OpenAI-compatible API: {@code /v1/models}, {@code /v1/completions}, {@code /v1/chat/completions}, with
 * {@code stream: true} as Server-Sent Events ({@code data: {...}} chunks, then {@code data: [DONE]}). A client
 * that goes away cancels its generation.
 */
@Path("/v1")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class OpenAiResource {
    private static final Logger LOG = Logger.getLogger(OpenAiResource.class);

    record Details(@JsonProperty("cached_tokens") int cachedTokens) {}

    record Usage(@JsonProperty("prompt_tokens") int promptTokens, @JsonProperty("completion_tokens") int completionTokens,
                 @JsonProperty("total_tokens") int totalTokens, @JsonProperty("prompt_tokens_details") Details details) {
        static Usage of(GenerationResult r) {
            return new Usage(r.promptTokens(), r.completionTokens(), r.promptTokens() + r.completionTokens(),
                    new Details(r.cachedTokens()));
        }
    }

    record ModelCard(String id, String object, long created, @JsonProperty("owned_by") String ownedBy,
                     @JsonProperty("max_model_len") int maxModelLen) {}

    private static final long STARTED = System.currentTimeMillis() / 1000;

    /**
     * Behind API Gateway (the {@code lambda} build) a response is delivered whole, so a stream would never
     * arrive token by token: refuse {@code stream: true} there instead of hanging the client.
     */
    static final boolean ON_LAMBDA = classPresent("io.quarkus.amazon.lambda.http.LambdaHttpHandler");

    /** Whether this build serves through AWS Lambda (the {@code lambda} Maven profile). */
    public static boolean onLambda() {
        return ON_LAMBDA;
    }

    private static boolean classPresent(String name) {
        try {
            Class.forName(name, false, OpenAiResource.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    @Inject
    Engine engine;

    @Inject
    GenerationRequests requests;

    @Inject
    ChatTemplate chatTemplate;

    @Inject
    ObjectMapper json;

    @GET
    @Path("/models")
    public Map<String, Object> models() {
        return fields("object", "list", "data", List.of(new ModelCard(engine.model().name(), "model", STARTED, "kvfn",
                engine.model().contextLength())));
    }

    @POST
    @Path("/completions")
    public Response completions(OpenAiRequests.Completion in, @Context HttpServerResponse http) {
        if (in == null) throw new BadRequestException("request body must be a JSON object");
        checkModel(in.model());
        checkOne(in.n(), in.logprobs());
        if (Boolean.TRUE.equals(in.echo())) throw new BadRequestException("\"echo\" is not supported");
        String prompt = singleString(in.prompt(), "prompt");
        GenerationRequest request = requests.build(prompt, new GenerationRequests.Knobs(in.maxTokens(), in.temperature(),
                in.topP(), in.topK(), in.minP(), in.seed(), strings(in.stop(), "stop"), in.cacheSalt()),
                GenerationRequests.Style.OPENAI_COMPLETIONS).withConstraint(ResponseFormats.constraint(in.responseFormat(), engine.tokenizer()));
        String id = "cmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        if (Boolean.TRUE.equals(in.stream())) {
            return stream(request, http, includeUsage(in.streamOptions()),
                    delta -> fields("id", id, "object", "text_completion", "created", created, "model", engine.model().name(),
                            "choices", List.of(choice("text", delta, null))),
                    reason -> fields("id", id, "object", "text_completion", "created", created, "model", engine.model().name(),
                            "choices", List.of(choice("text", "", reason))),
                    usage -> fields("id", id, "object", "text_completion", "created", created, "model", engine.model().name(),
                            "choices", List.of(), "usage", usage));
        }
        GenerationResult r = await(request, http);
        return Response.ok(fields("id", id, "object", "text_completion", "created", created, "model", engine.model().name(),
                "choices", List.of(choice("text", r.text(), finishReason(r))), "usage", Usage.of(r))).build();
    }

    @POST
    @Path("/chat/completions")
    public Response chat(OpenAiRequests.Chat in, @Context HttpServerResponse http) {
        if (in == null) throw new BadRequestException("request body must be a JSON object");
        checkModel(in.model());
        checkOne(in.n(), in.logprobs() != null && in.logprobs().asBoolean() ? in.logprobs() : null);
        if (in.messages() == null || in.messages().isEmpty()) throw new BadRequestException("\"messages\" must be a non-empty array");
        List<ChatTemplate.Message> messages = new ArrayList<>();
        for (OpenAiRequests.ChatMessage m : in.messages()) {
            if (m == null || m.role() == null || m.role().isEmpty()) throw new BadRequestException("every message needs a \"role\"");
            messages.add(new ChatTemplate.Message(m.role(), content(m.content())));
        }
        String prompt = chatTemplate.render(messages);
        Integer maxTokens = in.maxCompletionTokens() != null ? in.maxCompletionTokens() : in.maxTokens();
        GenerationRequest request = requests.build(prompt, new GenerationRequests.Knobs(maxTokens, in.temperature(),
                in.topP(), in.topK(), in.minP(), in.seed(), strings(in.stop(), "stop"), in.cacheSalt()),
                GenerationRequests.Style.OPENAI_CHAT).withConstraint(ResponseFormats.constraint(in.responseFormat(), engine.tokenizer()));
        String id = "chatcmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        if (Boolean.TRUE.equals(in.stream())) {
            return stream(request, http, includeUsage(in.streamOptions()),
                    delta -> fields("id", id, "object", "chat.completion.chunk", "created", created, "model", engine.model().name(),
                            "choices", List.of(choice("delta", fields("role", "assistant", "content", delta), null))),
                    reason -> fields("id", id, "object", "chat.completion.chunk", "created", created, "model", engine.model().name(),
                            "choices", List.of(choice("delta", fields(), reason))),
                    usage -> fields("id", id, "object", "chat.completion.chunk", "created", created, "model", engine.model().name(),
                            "choices", List.of(), "usage", usage));
        }
        GenerationResult r = await(request, http);
        return Response.ok(fields("id", id, "object", "chat.completion", "created", created, "model", engine.model().name(),
                "choices", List.of(choice("message", fields("role", "assistant", "content", r.text()), finishReason(r))),
                "usage", Usage.of(r))).build();
    }

    /** A JSON object whose fields keep the order given (OpenAI's own order), unlike Map.of. */
    static Map<String, Object> fields(Object... keyValues) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
        return m;
    }

    private void checkModel(String model) {
        if (model != null && !model.isEmpty() && !model.equals(engine.model().name())) {
            throw new OpenAiErrors.ModelNotFoundException(model);
        }
    }

    private static void checkOne(Integer n, JsonNode logprobs) {
        if (n != null && n != 1) throw new BadRequestException("\"n\" must be 1 (one completion per request)");
        if (logprobs != null && !logprobs.isNull()) throw new BadRequestException("\"logprobs\" is not supported");
    }

    private static boolean includeUsage(OpenAiRequests.StreamOptions o) {
        return o != null && Boolean.TRUE.equals(o.includeUsage());
    }

    private static Map<String, Object> choice(String field, Object value, String finishReason) {
        Map<String, Object> c = new java.util.LinkedHashMap<>();
        c.put("index", 0);
        c.put(field, value);
        c.put("logprobs", null);
        c.put("finish_reason", finishReason);
        return c;
    }

    private static String finishReason(GenerationResult r) {
        return r.finishReason() == dev.kvfn.engine.FinishReason.LENGTH ? "length" : "stop";
    }

    private static String singleString(JsonNode node, String field) {
        if (node == null || node.isNull()) throw new BadRequestException("\"" + field + "\" is required");
        if (node.isTextual()) return node.asText();
        if (node.isArray() && node.size() == 1 && node.get(0).isTextual()) return node.get(0).asText();
        throw new BadRequestException("\"" + field + "\" must be a string (or an array of exactly one string)");
    }

    private static List<String> strings(JsonNode node, String field) {
        if (node == null || node.isNull()) return List.of();
        if (node.isTextual()) return List.of(node.asText());
        if (node.isArray()) {
            List<String> out = new ArrayList<>();
            for (JsonNode e : node) {
                if (!e.isTextual()) throw new BadRequestException("\"" + field + "\" must be a string or an array of strings");
                out.add(e.asText());
            }
            return out;
        }
        throw new BadRequestException("\"" + field + "\" must be a string or an array of strings");
    }

    /** Message content: a string, or an array of {@code {"type": "text", "text": ...}} parts. */
    private static String content(JsonNode node) {
        if (node == null || node.isNull()) return "";
        if (node.isTextual()) return node.asText();
        if (node.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : node) {
                if (!"text".equals(part.path("type").asText())) {
                    throw new BadRequestException("only text content parts are supported, got \"" + part.path("type").asText() + "\"");
                }
                sb.append(part.path("text").asText());
            }
            return sb.toString();
        }
        throw new BadRequestException("message \"content\" must be a string or an array of text parts");
    }

    /** Blocking wait (JAX-RS runs this on a worker thread); a client that disconnects cancels the generation. */
    private GenerationResult await(GenerationRequest request, HttpServerResponse http) {
        Generation g = engine.submit(request, TokenSink.NONE);
        http.closeHandler(v -> g.cancel());
        try {
            return g.result().get();
        } catch (InterruptedException e) {
            g.cancel();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
    }

    private static final String DONE = "[DONE]";

    /**
     * Streams the generation as SSE. Tokens arrive on the engine thread and are handed to the writing thread
     * through a queue; a failed write (client gone) or the connection closing cancels the generation.
     */
    private Response stream(GenerationRequest request, HttpServerResponse http, boolean includeUsage,
                            Function<String, Object> deltaChunk, Function<String, Object> finalChunk,
                            Function<Usage, Object> usageChunk) {
        if (ON_LAMBDA) throw new BadRequestException("\"stream\": true is not available when kvfn runs as an AWS Lambda "
                + "behind API Gateway, which delivers responses whole; send the request without it");
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        Generation g = engine.submit(request, (token, text) -> {
            if (!text.isEmpty()) events.add(deltaChunk.apply(text));
        });
        g.result().whenComplete((r, failure) -> {
            if (failure != null) {
                events.add(fields("error", fields("message", "generation failed", "type", "server_error")));
            } else {
                events.add(finalChunk.apply(finishReason(r)));
                if (includeUsage) events.add(usageChunk.apply(Usage.of(r)));
            }
            events.add(DONE);
        });
        http.closeHandler(v -> g.cancel());
        StreamingOutput body = (OutputStream out) -> {
            try {
                for (Object event = events.take(); ; event = events.take()) {
                    String data = event == DONE ? DONE : json.writeValueAsString(event);
                    out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    if (event == DONE) return;
                }
            } catch (IOException | io.vertx.core.VertxException e) { // Vert.x reports a closed connection unchecked
                g.cancel(); // the client went away: nobody to report this to, one line for whoever debugs it
                LOG.debugf("client went away during a stream, its generation is cancelled: %s", e.toString());
            } catch (InterruptedException e) {
                g.cancel();
                Thread.currentThread().interrupt();
            }
        };
        return Response.ok(body).type("text/event-stream").header("Cache-Control", "no-cache").build();
    }
}
