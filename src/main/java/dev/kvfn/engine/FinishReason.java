package dev.kvfn.engine;

public enum FinishReason {
    /** EOS/end-of-generation token or a stop string. */
    STOP,
    /** maxTokens reached or the context is full. */
    LENGTH,
    /** cancelled by the caller (client gone, deadline). */
    CANCELLED;

    /** The wire name used by OpenAI-style APIs. */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
