package dev.kvfn.engine.structured;

import java.nio.charset.StandardCharsets;

/** Text against a grammar, for the tests: a complete sentence, or a prefix of one. */
final class Grammars {
    private Grammars() {}

    static boolean accepts(Grammar g, String text) {
        return ParseState.start(g).advance(text.getBytes(StandardCharsets.UTF_8)).accepting();
    }

    static boolean acceptsPrefix(Grammar g, String text) {
        return !ParseState.start(g).advance(text.getBytes(StandardCharsets.UTF_8)).isDead();
    }
}
