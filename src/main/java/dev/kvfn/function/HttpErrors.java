package dev.kvfn.function;

import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.QueueFullException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

/**
 * Turns failures of the Funqy routes into JSON errors a client can act on. Funqy itself answers a
 * body it cannot parse with a bare 400 and an exception from a function with a 500; here a
 * {@link BadRequestException} becomes a 400 with its message, and every error body is
 * {@code {"error": {"message": ..., "type": ..., "code": ...}}}.
 */
public class HttpErrors {
    private static final Logger LOG = Logger.getLogger(HttpErrors.class);

    void install(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE).failureHandler(HttpErrors::handle);
    }

    static void handle(RoutingContext ctx) {
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
        if (failure instanceof QueueFullException full) {
            status = 429;
            message = full.getMessage();
            ctx.response().putHeader("Retry-After", String.valueOf(full.retryAfterSeconds()));
        } else if (failure instanceof EngineUnavailableException down) {
            status = 503;
            message = down.getMessage();
        } else if (failure instanceof GenerationFailedException failed) {
            status = 500; // the engine logged the cause once
            message = failed.getMessage();
        } else if (failure instanceof BadRequestException || failure instanceof IllegalArgumentException) {
            status = 400;
            message = failure.getMessage();
        } else if (failure == null && ctx.statusCode() == 400) {
            status = 400;
            message = "malformed request body: expected a JSON object";
        } else if (failure == null && ctx.statusCode() > 0 && ctx.statusCode() < 500) {
            status = ctx.statusCode();
            message = status == 404 ? "no such function: " + ctx.request().path() : "request rejected";
        } else {
            status = 500;
            message = "internal error";
            LOG.error("request failed: " + ctx.request().method() + " " + ctx.request().path(), ctx.failure());
        }
        JsonObject body = new JsonObject().put("error", new JsonObject()
                .put("message", message)
                .put("type", status == 400 ? "invalid_request_error" : status == 429 ? "rate_limit_error"
                        : status >= 500 ? "server_error" : "request_error")
                .put("code", status));
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body.encode());
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
