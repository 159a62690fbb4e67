package dev.kvfn.function;

/**
 * Input a client must fix; answered with HTTP 400 and this message. {@code param} names the request field at
 * fault in the API's own spelling (OpenAI's error bodies carry it), or is null when no single field is.
 */
public class BadRequestException extends RuntimeException {
    private final String param;

    public BadRequestException(String message) {
        this(message, null);
    }

    public BadRequestException(String message, String param) {
        super(message, null, false, false);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
