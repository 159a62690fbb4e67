package dev.kvfn.function;

import io.quarkus.logging.LoggingFilter;

import java.util.logging.Filter;
import java.util.logging.LogRecord;

/**
 * Funqy logs a body it cannot parse and an event type no function takes at ERROR, the first with a stack trace:
 * the client's mistake, not the server's. Those records are dropped; {@link HttpErrors} answers them with a 400
 * and logs one DEBUG line. Everything else Funqy logs passes.
 */
@LoggingFilter(name = "funqy-client-errors")
public final class FunqyClientErrorsFilter implements Filter {

    @Override
    public boolean isLoggable(LogRecord record) {
        if (!"io.quarkus.funqy".equals(record.getLoggerName())) return true;
        String message = record.getMessage();
        return message == null || !(message.startsWith("Failed to unmarshal input") || message.startsWith("Couldn't map CloudEvent type"));
    }
}
