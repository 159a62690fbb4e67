package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.function.CacheReport;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Refuses work before any of it is done: the first handler on every request, ahead of body reading, JSON parsing
 * and tokenizing. While the replica drains (SIGTERM) every API request gets 503 at once, so the drain ends
 * when the running requests do (health and metrics are on the management interface, which still answers:
 * readiness says DOWN). While it
 * is full ({@code kvfn.limits.max-requests}) a generation request gets 429 with {@code Retry-After} at once, so a
 * burst costs microseconds per refusal instead of a parse and a tokenization each. The answer has the API's error
 * shape: OpenAI's under {@code /v1}, kvfn's elsewhere. The cache report that {@code /cache} (and the
 * {@code dev.kvfn.cache} event) served is answered with where it moved: the management interface.
 */
@ApplicationScoped
public class EarlyRefusals {

    void install(@Observes Router router, Engine engine) {
        if (!(engine instanceof ServingEngine serving)) return;
        // every refusal's body is fixed for the life of the process: encoded once, not per request of a burst
        Refusal moved = new Refusal(404, CacheReport.MOVED, "invalid_request_error", null);
        Refusal draining = new Refusal(503, "this replica is shutting down; send the request to another replica", "server_error", null);
        QueueFullException full = serving.fullRefusal();
        Refusal busy = new Refusal(429, full.getMessage(), "rate_limit_error", String.valueOf(full.retryAfterSeconds()));
        router.route().order(Integer.MIN_VALUE + 1).handler(ctx -> {
            if (movedToManagement(ctx)) {
                moved.send(ctx);
            } else if (serving.draining()) {
                draining.send(ctx);
            } else if (generates(ctx) && serving.refusesNewRequest()) {
                busy.send(ctx);
            } else {
                ctx.next();
            }
        });
    }

    /** The former {@code cache} function: its path, or a binary-mode event of its type (structured mode: HttpErrors). */
    static boolean movedToManagement(RoutingContext ctx) {
        String path = ctx.request().path();
        return path.equals("/cache") || path.equals("/") && "dev.kvfn.cache".equals(ctx.request().getHeader("ce-type"));
    }

    /** A request that would take a generation slot: the generating functions, and their binary-mode CloudEvents. */
    static boolean generates(RoutingContext ctx) {
        if (ctx.request().method() != io.vertx.core.http.HttpMethod.POST) return false;
        return switch (ctx.request().path()) {
            case "/generate", "/warm", "/v1/completions", "/v1/chat/completions" -> true;
            case "/" -> {
                String type = ctx.request().getHeader("ce-type");
                yield "dev.kvfn.generate".equals(type) || "dev.kvfn.warm".equals(type);
            }
            default -> false;
        };
    }

    /** One refusal in both error shapes: OpenAI's (under {@code /v1}) and kvfn's. */
    record Refusal(int status, String retryAfter, Buffer kvfnBody, Buffer openAiBody) {
        Refusal(int status, String message, String type, String retryAfter) {
            this(status, retryAfter, body(status, message, type, false), body(status, message, type, true));
        }

        static Buffer body(int status, String message, String type, boolean openAi) {
            JsonObject error = new JsonObject().put("message", message).put("type", type);
            if (openAi) error.put("param", null).put("code", status == 503 ? "unavailable" : "queue_full");
            else error.put("code", status);
            return new JsonObject().put("error", error).toBuffer();
        }

        void send(RoutingContext ctx) {
            boolean openAi = ctx.request().path().startsWith("/v1/");
            var response = ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, JSON);
            if (retryAfter != null) response.putHeader(RETRY_AFTER, retryAfter);
            if (status == 503) response.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE); // the client should move to another replica
            response.end(openAi ? openAiBody : kvfnBody);
        }
    }

    private static final CharSequence JSON = HttpHeaders.createOptimized("application/json");
    private static final CharSequence RETRY_AFTER = HttpHeaders.createOptimized("Retry-After");
}
