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
