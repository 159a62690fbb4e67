package dev.kvfn.engine;

/**
 * The engine stopped for good after failures it could not survive (liveness reports DOWN): a
 * request is refused (HTTP 503) and the replica should be restarted.
 */
public class EngineUnavailableException extends IllegalStateException {
    public EngineUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
