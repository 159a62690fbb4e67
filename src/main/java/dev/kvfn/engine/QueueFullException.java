package dev.kvfn.engine;

/** The replica has as many requests as it accepts; the client should retry after {@link #retryAfterSeconds()}. */
public class QueueFullException extends RuntimeException {
    private final int retryAfterSeconds;

    public QueueFullException(String message, int retryAfterSeconds) {
        super(message, null, false, false);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
