package dev.kvfn.engine.text;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CompletionTextTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Token i is the letter 'a' + i; token 9 ends generation. */
    static final dev.kvfn.tokenizer.Tokenizer LETTERS = new dev.kvfn.tokenizer.Tokenizer() {
        @Override public int vocabSize() { return 10; }
        @Override public int[] encode(String text, boolean addSpecial, boolean parseSpecial, dev.kvfn.tokenizer.LiteralSpans literal) {
            throw new UnsupportedOperationException();
        }
        @Override public byte[] tokenBytes(int token) { return token == 9 ? new byte[0] : new byte[] {(byte) ('a' + token)}; }
        @Override public String decode(int[] tokens) { throw new UnsupportedOperationException(); }
        @Override public String piece(int token) { return new String(tokenBytes(token), StandardCharsets.US_ASCII); }
        @Override public int bos() { return -1; }
        @Override public int eos() { return 9; }
        @Override public boolean isEndOfGeneration(int token) { return token == 9; }
    };

    @Test
    void acceptEndsOnEndOfGenerationOnAStopStringAndOnTheLastAllowedToken() {
        var eos = new CompletionText(List.of());
        assertEquals("a", eos.accept(LETTERS, 0, false));
        assertEquals(null, eos.finishReason());
        assertEquals("", eos.accept(LETTERS, 9, false));
        assertEquals(dev.kvfn.engine.FinishReason.STOP, eos.finishReason());
        assertEquals("a", eos.text());

        var stop = new CompletionText(List.of("bc"));
        assertEquals("a", stop.accept(LETTERS, 0, false));
        assertEquals("", stop.accept(LETTERS, 1, false)); // could start "bc": held
        assertEquals("", stop.accept(LETTERS, 2, true));   // the stop string wins over the length limit
        assertEquals(dev.kvfn.engine.FinishReason.STOP, stop.finishReason());
        assertEquals("a", stop.text());

        var length = new CompletionText(List.of("bc"));
        assertEquals("a", length.accept(LETTERS, 0, false));
        assertEquals("b", length.accept(LETTERS, 1, true)); // held text is released when the limit ends it
        assertEquals(dev.kvfn.engine.FinishReason.LENGTH, length.finishReason());
        assertEquals("ab", length.text());
    }

    @Test
    void multiByteCharacterSplitAcrossTokensIsEmittedWhole() {
        var t = new CompletionText(List.of());
        byte[] euro = b("€"); // 3 bytes
        assertEquals("a", t.append(new byte[] {'a', euro[0]}));
        assertEquals("", t.append(new byte[] {euro[1]}));
        assertEquals("€b", t.append(new byte[] {euro[2], 'b'}));
        byte[] emoji = b("😀"); // 4 bytes, a surrogate pair in Java
        assertEquals("", t.append(new byte[] {emoji[0], emoji[1]}));
        assertEquals("😀", t.append(new byte[] {emoji[2], emoji[3]}));
        assertEquals("", t.finish());
        assertEquals("a€b😀", t.text());
    }

    @Test
    void cutOffCharacterBecomesReplacementAtTheEnd() {
        var t = new CompletionText(List.of());
        assertEquals("x", t.append(new byte[] {'x', (byte) 0xe2, (byte) 0x82}));
        assertEquals("\uFFFD", t.finish());
    }

    @Test
    void stopStringSplitAcrossTokensIsHeldBackAndCut() {
        var t = new CompletionText(List.of("END"));
        assertEquals("hello ", t.append(b("hello E")));
        assertEquals("", t.append(b("N")));
        assertEquals("", t.append(b("D and more")));
        assertTrue(t.stopped());
        assertEquals("hello ", t.text());
    }

    @Test
    void heldTextIsReleasedWhenItStopsMatching() {
        var t = new CompletionText(List.of("END"));
        assertEquals("x", t.append(b("xEN")));
        assertEquals("ENx", t.append(b("x")));
        assertFalse(t.stopped());
        assertEquals("", t.append(b("E")));
        assertEquals("E", t.finish());
        assertEquals("xENxE", t.text());
    }

    @Test
    void earliestOfSeveralStopStringsWins() {
        var t = new CompletionText(List.of("world", "lo w"));
        assertEquals("hel", t.append(b("hello world")));
        assertEquals("hel", t.text());
    }
}
