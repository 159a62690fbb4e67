package dev.kvfn.function.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.function.BadRequestException;
import dev.kvfn.runtime.RequestFailures;
import jakarta.inject.Inject;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

import java.util.LinkedHashMap;
import java.util.Map;

/** Errors in OpenAI's shape: {@code {"error": {"message", "type", "param", "code"}}} with the matching status. */
public class OpenAiErrors {

    /** The request named a model this replica does not serve. */
    static final class ModelNotFoundException extends RuntimeException {
        ModelNotFoundException(String model) {
            super("The model `" + model + "` does not exist.", null, false, false);
        }
    }

    private static final Logger LOG = Logger.getLogger(OpenAiErrors.class);

    @Inject
    RequestFailures failures;

    static Response error(int status, String message, String type, String code) {
        return error(status, message, type, null, code);
    }

    /** {@code param}: the request field at fault, as OpenAI names it (null when no single field is). */
    static Response error(int status, String message, String type, String param, String code) {
        if (status < 500) LOG.debugf("answered %d: %s", status, message); // the client's to fix: one line, no stack
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", message);
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Response.status(status).type(MediaType.APPLICATION_JSON).entity(Map.of("error", error)).build();
    }

    @ServerExceptionMapper
    Response badRequest(BadRequestException e) {
        return error(400, e.getMessage(), "invalid_request_error", e.param(), null);
    }

    @ServerExceptionMapper
    Response illegalArgument(IllegalArgumentException e) {
        return error(400, e.getMessage(), "invalid_request_error", null);
    }

    @ServerExceptionMapper
    Response malformedJson(JsonProcessingException e) {
        return error(400, "malformed request body: " + e.getOriginalMessage(), "invalid_request_error", null);
    }

    @ServerExceptionMapper
    Response queueFull(QueueFullException e) {
        return Response.fromResponse(error(429, e.getMessage(), "rate_limit_error", "queue_full"))
                .header("Retry-After", e.retryAfterSeconds()).build();
    }

    @ServerExceptionMapper
    Response unavailable(EngineUnavailableException e) {
        return error(503, e.getMessage(), "server_error", "engine_unavailable");
    }

    @ServerExceptionMapper
    Response generationFailed(GenerationFailedException e) {
        return error(500, e.getMessage(), "server_error", null); // the engine logged the cause once
    }

    @ServerExceptionMapper
    Response modelNotFound(ModelNotFoundException e) {
        return error(404, e.getMessage(), "invalid_request_error", "model", "model_not_found");
    }

    @ServerExceptionMapper
    Response notFound(NotFoundException e) {
        return error(404, "no such endpoint", "invalid_request_error", null);
    }

    /** Anything else is a bug: logged once with its stack, counted with the failed generations, answered 500. */
    @ServerExceptionMapper(priority = jakarta.ws.rs.Priorities.USER + 1000)
    Response unexpected(RuntimeException e) {
        failures.count();
        LOG.error("request failed", e);
        return error(500, "internal error", "server_error", null);
    }

    /** What the REST layer rejects before our code runs (a body Jackson cannot read arrives here as a bare 400). */
    @ServerExceptionMapper
    Response rejected(WebApplicationException e) {
        int status = e.getResponse().getStatus();
        Throwable cause = e.getCause();
        String message = status == 400 ? "malformed request body" + (cause instanceof JsonProcessingException j
                ? ": " + j.getOriginalMessage() : "") : e.getMessage();
        return error(status, message, status < 500 ? "invalid_request_error" : "server_error", null);
    }
}
