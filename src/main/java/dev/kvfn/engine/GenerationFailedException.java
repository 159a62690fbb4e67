package dev.kvfn.engine;

/**
 * A request failed because the engine step computing it threw (a fault, a bug); other requests go
 * on. The engine logged the cause once; HTTP answers 500 with this message.
 */
public class GenerationFailedException extends RuntimeException {
    public GenerationFailedException(String message, Throwable cause) {
        super(message, cause);
    }

    public static GenerationFailedException of(Throwable cause) {
        return new GenerationFailedException("the engine failed while computing this request: " + cause, cause);
    }
}
