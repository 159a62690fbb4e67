package dev.kvfn.function;

import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.runtime.RequestFailures;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

import java.util.TreeSet;
import java.util.UUID;

/**
 * Turns failures on the router (the Funqy routes, and anything that fails before a REST resource runs) into
 * errors a client can act on. Funqy itself answers a body it cannot parse with a bare 400, an event type no
 * function takes with a 404, and an exception from a function with a 500; here a {@link BadRequestException}
 * becomes a 400 with its message, an unknown event type a 400 that names it, and every error body is
 * {@code {"error": {"message", "type", "code"}}} — OpenAI's shape ({@code param} too) under {@code /v1}. An
 * error to a CloudEvent is itself a CloudEvent ({@code dev.kvfn.error}, in the mode the event came in), so an
 * event pipeline gets an event back; the HTTP status still says it failed (a broker retries or dead-letters on it).
 * Client aborts and bad requests log one line at DEBUG; only a 500 (a bug) logs its stack, and it is counted in
 * {@code kvfn_request_failures_total}.
 */
@ApplicationScoped
public class HttpErrors {
    private static final Logger LOG = Logger.getLogger(HttpErrors.class);
    static final String ERROR_EVENT_TYPE = "dev.kvfn.error";

    private final RequestFailures failures;

    HttpErrors(RequestFailures failures) {
        this.failures = failures;
    }

    /** The event type of the former {@code cache} function, now {@link CacheReport} on the management interface. */
    static final String MOVED_CACHE_TYPE = "dev.kvfn.cache";

    void install(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE).failureHandler(this::handle);
    }

    void handle(RoutingContext ctx) {
        if (clientGone(ctx.failure()) || ctx.response().closed()) {
            // routine (a client hung up mid-answer; its generation is cancelled by the close): one line, nothing to send
            LOG.debugf("client went away: %s %s (%s)", ctx.request().method(), ctx.request().path(), ctx.failure());
            try {
                if (!ctx.response().ended()) ctx.response().end(); // releases a writer still waiting on the stream
            } catch (IllegalStateException ignored) {
                // closed already
            }
            return;
        }
        if (ctx.response().headWritten()) {
            ctx.next();
            return;
        }
        Throwable failure = rootOf(ctx.failure());
        int status;
        String message;
        String param = null;
        if (failure instanceof QueueFullException full) {
            status = 429;
            message = full.getMessage();
            ctx.response().putHeader("Retry-After", String.valueOf(full.retryAfterSeconds()));
        } else if (failure instanceof EngineUnavailableException down) {
            status = 503;
            message = down.getMessage();
        } else if (failure instanceof GenerationFailedException failed) {
            status = 500; // the engine logged the cause once and counted it
            message = failed.getMessage();
        } else if (failure instanceof BadRequestException bad) {
            status = 400;
            message = bad.getMessage();
            param = bad.param();
        } else if (failure instanceof IllegalArgumentException) {
            status = 400;
            message = failure.getMessage();
        } else if (failure instanceof com.fasterxml.jackson.core.JsonProcessingException json) {
            status = 400; // a body (or an event's data) Jackson cannot read
            message = "malformed request body: " + json.getOriginalMessage();
        } else if (failure == null && ctx.statusCode() == 400) {
            status = 400;
            message = "malformed request body: expected a JSON object";
        } else if (failure == null && ctx.statusCode() == 404 && MOVED_CACHE_TYPE.equals(cloudEvent(ctx))) {
            status = 404; // a structured-mode event (binary mode and the path: EarlyRefusals)
            message = CacheReport.MOVED;
        } else if (failure == null && ctx.statusCode() == 404 && cloudEvent(ctx) != null) {
            status = 400; // the event's type is what no function takes, not the path
            message = "no function takes CloudEvent type \"" + cloudEvent(ctx) + "\"; this replica takes " + eventTypes();
        } else if (failure == null && ctx.statusCode() > 0 && ctx.statusCode() < 500) {
            status = ctx.statusCode();
            message = status == 404 ? (openAi(ctx) ? "no such endpoint: " : "no such function: ") + ctx.request().path()
                    : "request rejected";
        } else {
            status = 500;
            message = "internal error";
            failures.count();
            LOG.error("request failed: " + ctx.request().method() + " " + ctx.request().path(), ctx.failure());
        }
        if (status < 500) LOG.debugf("%s %s answered %d: %s", ctx.request().method(), ctx.request().path(), status, message);
        JsonObject error = new JsonObject().put("message", message).put("type", type(status, openAi(ctx)));
        if (openAi(ctx)) error.put("param", param).put("code", status == 429 ? "queue_full" : null);
        else error.put("code", status);
        JsonObject body = new JsonObject().put("error", error);
        String eventType = cloudEvent(ctx);
        var response = ctx.response().setStatusCode(status);
        if (eventType == null) {
            response.putHeader("Content-Type", "application/json").end(body.encode());
        } else if (structured(ctx)) {
            response.putHeader("Content-Type", "application/cloudevents+json").end(new JsonObject()
                    .put("specversion", "1.0").put("id", UUID.randomUUID().toString()).put("source", "kvfn")
                    .put("type", ERROR_EVENT_TYPE).put("datacontenttype", "application/json").put("data", body).encode());
        } else {
            response.putHeader("ce-specversion", "1.0").putHeader("ce-id", UUID.randomUUID().toString())
                    .putHeader("ce-source", "kvfn").putHeader("ce-type", ERROR_EVENT_TYPE)
                    .putHeader("Content-Type", "application/json").end(body.encode());
        }
    }

    private static String type(int status, boolean openAi) {
        return status == 429 ? "rate_limit_error" : status >= 500 ? "server_error"
                : status == 400 || openAi ? "invalid_request_error" : "request_error";
    }

    static boolean openAi(RoutingContext ctx) {
        return ctx.request().path().startsWith("/v1/");
    }

    /** The type of the CloudEvent this request carries (binary mode: ce-type; structured: type), or null. */
    static String cloudEvent(RoutingContext ctx) {
        String type = ctx.request().getHeader("ce-type");
        if (type != null) return type;
        if (!structured(ctx)) return null;
        try {
            JsonObject event = ctx.body().asJsonObject();
            return event == null ? "" : event.getString("type", "");
        } catch (RuntimeException e) {
            return ""; // a structured event that is not JSON: still answered as an event
        }
    }

    private static boolean structured(RoutingContext ctx) {
        String contentType = ctx.request().getHeader("Content-Type");
        return contentType != null && contentType.startsWith("application/cloudevents+json");
    }

    /** The event types Funqy maps to functions here ({@code quarkus.funqy.knative-events.mapping.*.trigger}). */
    static TreeSet<String> eventTypes() {
        TreeSet<String> types = new TreeSet<>();
        var config = ConfigProvider.getConfig();
        for (String name : config.getPropertyNames()) {
            if (name.startsWith("quarkus.funqy.knative-events.mapping.") && name.endsWith(".trigger")) {
                config.getOptionalValue(name, String.class).ifPresent(types::add);
            }
        }
        return types;
    }

    /** Whether {@code t} says the connection closed under the response (Vert.x reports it unchecked). */
    static boolean clientGone(Throwable t) {
        for (Throwable cur = t; cur != null; cur = cur.getCause() == cur ? null : cur.getCause()) {
            if (cur instanceof io.vertx.core.http.HttpClosedException) return true;
        }
        return false;
    }

    private static Throwable rootOf(Throwable t) {
        Throwable cur = t;
        while (cur != null && !(cur instanceof BadRequestException) && !(cur instanceof IllegalArgumentException)
                && !(cur instanceof QueueFullException) && !(cur instanceof EngineUnavailableException)
                && !(cur instanceof GenerationFailedException)
                && cur.getCause() != null && cur.getCause() != cur) {
            cur = cur.getCause();
        }
        return cur;
    }
}
