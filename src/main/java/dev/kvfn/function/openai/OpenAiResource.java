package dev.kvfn.function.openai;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.function.BadRequestException;
import dev.kvfn.engine.text.ChatPrompt;
import dev.kvfn.engine.text.ChatTemplate;
import dev.kvfn.tokenizer.LiteralSpans;
import dev.kvfn.function.CacheHitReport;
import dev.kvfn.function.GenerationRequests;
import io.quarkus.runtime.annotations.RegisterForReflection;
import io.vertx.core.http.HttpServerResponse;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.StreamingOutput;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The OpenAI-compatible API: {@code /v1/models}, {@code /v1/completions}, {@code /v1/chat/completions}, with
 * {@code stream: true} as Server-Sent Events ({@code data: {...}} chunks, then {@code data: [DONE]}). A client
 * that goes away cancels its generation.
 */
@Path("/v1")
@Consumes(MediaType.APPLICATION_JSON)
// Both types on every endpoint: clients send "Accept: text/event-stream" alone (the OpenAI Java SDK when it
// streams), application/json, */* or nothing, and OpenAI answers each; every answer names its own type.
@Produces({MediaType.APPLICATION_JSON, MediaType.SERVER_SENT_EVENTS})
public class OpenAiResource {
    private static final Logger LOG = Logger.getLogger(OpenAiResource.class);

    // Usage, Details and ModelCard reach Jackson inside maps, so Quarkus, which registers the types REST methods declare,
    // does not see them: registered here for the native image (Jackson reads a record's components reflectively).
    @RegisterForReflection
    record Details(@JsonProperty("cached_tokens") int cachedTokens) {}

    /** {@code prompt_tokens_details} is null unless the request may see its cache hits ({@link CacheHitReport}), as vLLM does. */
    @RegisterForReflection
    record Usage(@JsonProperty("prompt_tokens") int promptTokens, @JsonProperty("completion_tokens") int completionTokens,
                 @JsonProperty("total_tokens") int totalTokens, @JsonProperty("prompt_tokens_details") Details details) {
        static Usage of(GenerationResult r, boolean showHits) {
            return new Usage(r.promptTokens(), r.completionTokens(), r.promptTokens() + r.completionTokens(),
                    showHits ? new Details(r.cachedTokens()) : null);
        }
    }

    @RegisterForReflection
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

    @Inject
    CacheHitReport hits;

    @GET
    @Path("/models")
    public Response models() {
        return json(fields("object", "list", "data", List.of(modelCard())));
    }

    /** One model; an id with a slash (an organization's model) is one id. */
    @GET
    @Path("/models/{id: .+}")
    public Response model(@PathParam("id") String id) {
        if (!id.equals(engine.model().name())) throw new OpenAiErrors.ModelNotFoundException(id);
        return json(modelCard());
    }

    private ModelCard modelCard() {
        return new ModelCard(engine.model().name(), "model", STARTED, "kvfn", engine.model().contextLength());
    }

    private static Response json(Object body) {
        return Response.ok(body).type(MediaType.APPLICATION_JSON).build();
    }

    @POST
    @Path("/completions")
    public Response completions(OpenAiRequests.Completion in, @Context HttpServerResponse http) {
        if (in == null) throw new BadRequestException("request body must be a JSON object");
        checkModel(in.model());
        RequestFields.checkCompletion(in);
        String prompt = singleString(in.prompt(), "prompt");
        GenerationRequest request = requests.build(prompt, new GenerationRequests.Knobs(in.maxTokens(), in.temperature(),
                in.topP(), in.topK(), in.minP(), in.seed(), strings(in.stop(), "stop"), in.cacheSalt()),
                GenerationRequests.Style.OPENAI_COMPLETIONS).withConstraint(ResponseFormats.constraint(in.responseFormat(), engine.tokenizer()));
        String id = "cmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        if (Boolean.TRUE.equals(in.stream())) {
            boolean usage = includeUsage(in.streamOptions());
            Chunk chunk = (choices, u) -> chunk(fields("id", id, "object", "text_completion", "created", created,
                    "model", engine.model().name(), "choices", choices), usage, u);
            return stream(request, http, usage, null,
                    delta -> chunk.of(List.of(choice("text", delta, null)), null),
                    reason -> chunk.of(List.of(choice("text", "", reason)), null),
                    u -> chunk.of(List.of(), u));
        }
        GenerationResult r = await(request, http);
        return json(fields("id", id, "object", "text_completion", "created", created, "model", engine.model().name(),
                "choices", List.of(choice("text", r.text(), finishReason(r))), "usage", Usage.of(r, hits.shows(request))));
    }

    @POST
    @Path("/chat/completions")
    public Response chat(OpenAiRequests.Chat in, @Context HttpServerResponse http) {
        if (in == null) throw new BadRequestException("request body must be a JSON object");
        checkModel(in.model());
        RequestFields.checkChat(in);
        if (in.messages() == null || in.messages().isEmpty()) throw new BadRequestException("\"messages\" must be a non-empty array", "messages");
        ToolCalls tools = ToolCalls.of(in.tools(), in.toolChoice(), in.parallelToolCalls(), chatTemplate);
        List<ChatTemplate.Message> messages = new ArrayList<>();
        for (int i = 0; i < in.messages().size(); i++) {
            OpenAiRequests.ChatMessage m = in.messages().get(i);
            if (m == null || m.role() == null || m.role().isEmpty()) {
                throw new BadRequestException("every message needs a \"role\"", "messages[" + i + "].role");
            }
            messages.add(ToolCalls.message(messages.size(), m.role(), content(m.content(), "messages[" + i + "].content"),
                    m.toolCalls(), m.toolCallId()));
        }
        ChatPrompt chat = ChatPrompt.render(m -> tools.render(chatTemplate, m), messages);
        String prompt = chat.text() + tools.promptSuffix(); // a forced call's opening marker
        LiteralSpans content = chat.content() != null ? chat.content() : noControlText(messages);
        Integer maxTokens = in.maxCompletionTokens() != null ? in.maxCompletionTokens() : in.maxTokens();
        GenerationRequest request = requests.build(prompt, content, new GenerationRequests.Knobs(maxTokens, in.temperature(),
                in.topP(), in.topK(), in.minP(), in.seed(), strings(in.stop(), "stop"), in.cacheSalt()),
                (in.maxCompletionTokens() != null ? GenerationRequests.Style.OPENAI_CHAT.withMaxTokens("max_completion_tokens")
                        : GenerationRequests.Style.OPENAI_CHAT))
                .withConstraint(constraint(tools, in.responseFormat()));
        String id = "chatcmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        if (Boolean.TRUE.equals(in.stream()) && tools.active()) { // calls are held until complete, then sent as deltas
            ToolCalls.Deltas deltas = tools.deltas(); // its first delta carries the role
            boolean usage = includeUsage(in.streamOptions());
            Chunk chunk = (choices, u) -> chunk(fields("id", id, "object", "chat.completion.chunk", "created", created,
                    "model", engine.model().name(), "choices", choices), usage, u);
            Function<Map<String, Object>, Object> delta = d -> chunk.of(List.of(choice("delta", d, null)), null);
            return stream(request, http, usage, null,
                    text -> deltas.onText(text).stream().map(delta).toList(),
                    reason -> java.util.stream.Stream.concat(deltas.finish().stream().map(delta), java.util.stream.Stream.of(
                            chunk.of(List.of(choice("delta", fields(), deltas.finishReason(reason))), null))).toList(),
                    u -> chunk.of(List.of(), u));
        }
        if (Boolean.TRUE.equals(in.stream())) {
            boolean usage = includeUsage(in.streamOptions());
            Chunk chunk = (choices, u) -> chunk(fields("id", id, "object", "chat.completion.chunk", "created", created,
                    "model", engine.model().name(), "choices", choices), usage, u);
            // as OpenAI streams it: the role in the first delta only (with empty content), then content deltas
            return stream(request, http, usage, chunk.of(List.of(choice("delta", fields("role", "assistant", "content", ""), null)), null),
                    delta -> chunk.of(List.of(choice("delta", fields("content", delta), null)), null),
                    reason -> chunk.of(List.of(choice("delta", fields(), reason)), null),
                    u -> chunk.of(List.of(), u));
        }
        GenerationResult r = await(request, http);
        ToolCalls.Reply reply = tools.active() ? tools.reply(r.text(), finishReason(r))
                : new ToolCalls.Reply(fields("role", "assistant", "content", r.text()), finishReason(r));
        return json(fields("id", id, "object", "chat.completion", "created", created, "model", engine.model().name(),
                "choices", List.of(choice("message", reply.message(), reply.finishReason())), "usage", Usage.of(r, hits.shows(request))));
    }

    /**
     * When the template changed the messages' content so that kvfn cannot tell it apart from the template's own
     * text, the prompt can only be tokenized safely if no content holds special-token text: refused otherwise.
     */
    private LiteralSpans noControlText(List<ChatTemplate.Message> messages) {
        for (int i = 0; i < messages.size(); i++) {
            String content = messages.get(i).content();
            if (!Arrays.equals(engine.tokenizer().encode(content, false, true), engine.tokenizer().encode(content, false, false))) {
                throw new BadRequestException("the content of messages[" + i + "] contains the text of a special token, and this "
                        + "model's chat template rewrites message content, so it cannot be kept as plain text: remove it",
                        "messages[" + i + "].content");
            }
        }
        return LiteralSpans.NONE;
    }

    /**
     * The chat's output constraint: a forced tool call's, else {@code response_format}'s. Both may be sent (OpenAI
     * allows it); while a call is forced the output is the call, and the format applies to none of it. The format
     * is still checked, so a bad one is a 400 either way.
     */
    private TokenConstraint constraint(ToolCalls tools, JsonNode responseFormat) {
        TokenConstraint format = ResponseFormats.constraint(responseFormat, engine.tokenizer());
        return tools.forces() ? tools.constraint(engine.tokenizer()) : format;
    }

    /** One streamed chunk from its choices (and the usage, on the last chunk only). */
    @FunctionalInterface
    private interface Chunk {
        Map<String, Object> of(List<?> choices, Usage usage);
    }

    /** With {@code include_usage} every chunk carries {@code usage}: null but the last, as OpenAI sends them. */
    private static Map<String, Object> chunk(Map<String, Object> chunk, boolean includeUsage, Usage usage) {
        if (includeUsage) chunk.put("usage", usage);
        return chunk;
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
        if (node == null || node.isNull()) throw new BadRequestException("\"" + field + "\" is required", field);
        if (node.isTextual()) return node.asText();
        if (node.isArray() && node.size() == 1 && node.get(0).isTextual()) return node.get(0).asText();
        throw new BadRequestException("\"" + field + "\" must be a string (or an array of exactly one string)", field);
    }

    private static List<String> strings(JsonNode node, String field) {
        if (node == null || node.isNull()) return List.of();
        if (node.isTextual()) return List.of(node.asText());
        if (node.isArray()) {
            List<String> out = new ArrayList<>();
            for (JsonNode e : node) {
                if (!e.isTextual()) throw new BadRequestException("\"" + field + "\" must be a string or an array of strings", field);
                out.add(e.asText());
            }
            return out;
        }
        throw new BadRequestException("\"" + field + "\" must be a string or an array of strings", field);
    }

    /** Message content: a string, or an array of {@code {"type": "text", "text": ...}} parts. */
    private static String content(JsonNode node, String param) {
        if (node == null || node.isNull()) return "";
        if (node.isTextual()) return node.asText();
        if (node.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : node) {
                if (!"text".equals(part.path("type").asText())) {
                    throw new BadRequestException("only text content parts are supported, got \"" + part.path("type").asText() + "\"", param);
                }
                sb.append(part.path("text").asText());
            }
            return sb.toString();
        }
        throw new BadRequestException("message \"content\" must be a string or an array of text parts", param);
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
     * How long a stream's writer waits for the next event before it checks that the client is still there. Once
     * REST writes the body, the close handler set here is not called for an HTTP/2 stream reset (REST handles the
     * response itself; DisconnectTest shows it), so a client gone is seen by the next write that fails, or by this
     * check while nothing is written (a held tool call, a long prefill).
     */
    private static final long IDLE_CHECK_SECONDS = 1;

    /** A chunk function may answer several chunks (a list) or none (an empty list): tool calls are held, then sent. */
    private static void enqueue(LinkedBlockingQueue<Object> events, Object chunks) {
        if (chunks instanceof List<?> list) events.addAll(list);
        else events.add(chunks);
    }

    /**
     * Streams the generation as SSE. Tokens arrive on the engine thread and are handed to the writing thread
     * through a queue; a failed write (client gone) or the connection closing cancels the generation.
     */
    private Response stream(GenerationRequest request, HttpServerResponse http, boolean includeUsage, Object firstChunk,
                            Function<String, Object> deltaChunk, Function<String, Object> finalChunk,
                            Function<Usage, Object> usageChunk) {
        if (ON_LAMBDA) throw new BadRequestException("\"stream\": true is not available when kvfn runs as an AWS Lambda "
                + "behind API Gateway, which delivers responses whole; send the request without it");
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        if (firstChunk != null) events.add(firstChunk);
        Generation g = engine.submit(request, (token, text) -> {
            if (!text.isEmpty()) enqueue(events, deltaChunk.apply(text));
        });
        g.result().whenComplete((r, failure) -> {
            if (failure != null) {
                events.add(fields("error", fields("message", "generation failed", "type", "server_error", "param", null, "code", null)));
            } else {
                enqueue(events, finalChunk.apply(finishReason(r)));
                if (includeUsage) events.add(usageChunk.apply(Usage.of(r, hits.shows(request))));
            }
            events.add(DONE);
        });
        http.closeHandler(v -> g.cancel()); // before REST writes the body; from then on, the writer's checks below
        StreamingOutput body = (OutputStream out) -> {
            try {
                while (true) {
                    Object event = events.poll(IDLE_CHECK_SECONDS, TimeUnit.SECONDS);
                    if (event == null) { // nothing to write (a held tool call, a long prefill): is anyone still there?
                        if (!http.closed()) continue;
                        g.cancel(); // an HTTP/2 reset closes the stream without any write failing
                        LOG.debugf("client went away during a stream (its stream closed while nothing was written), its generation is cancelled");
                        return;
                    }
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
