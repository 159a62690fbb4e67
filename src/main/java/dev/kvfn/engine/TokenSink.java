package dev.kvfn.engine;

/** Receives tokens as the engine produces them (called from the engine's thread; keep it cheap). */
@FunctionalInterface
public interface TokenSink {
    /**
     * @param token the token id
     * @param text  text that became complete with this token (may be empty when the token ends
     *              inside a multi-byte character or might be the start of a stop string)
     */
    void onToken(int token, String text);

    TokenSink NONE = (token, text) -> {};
}
