package dev.kvfn.function;

/** Input a client must fix; answered with HTTP 400 and this message. */
public class BadRequestException extends RuntimeException {
    public BadRequestException(String message) {
        super(message, null, false, false);
    }
}
