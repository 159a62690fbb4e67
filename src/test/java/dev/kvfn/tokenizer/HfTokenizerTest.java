package dev.kvfn.tokenizer;

import dev.kvfn.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.kvfn.tokenizer.HfTokenizerFixture.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tokenizer.json features on a small hand-made tokenizer (HfReferenceTest checks the real ones against Hugging Face). */
class HfTokenizerTest {
    @TempDir
    Path dir;

    static int b(char c) {
        return c; // ASCII letters are their own byte ids in the fixture
    }

    @Test
    void mergesByRankInBothSpellingsAndAddsTheTemplatesBos() throws Exception {
        HfTokenizer t = HfTokenizer.load(write(dir));
        assertArrayEquals(new int[] {BOS, HELLO, SPACE_W, b('o'), b('r'), b('l'), b('d')}, t.encode("hello world", true, true));
        assertArrayEquals(new int[] {HELLO, SPACE_W, b('o'), b('r'), b('l'), b('d')}, t.encode("hello world", false, true));
        assertArrayEquals(new int[] {HELLO, b('w')}, t.encode("hellow", false, true));
        assertArrayEquals(new int[] {LL, b('l')}, t.encode("lll", false, true), "equal ranks: the leftmost pair first");
        assertEquals("hello world", t.decode(t.encode("hello world", true, true)));
        assertEquals(BOS, t.bos());
        assertEquals(EOT, t.eos());
        assertTrue(t.isEndOfGeneration(EOT));
        assertEquals("<|bos|>", t.bosText());
        assertEquals("<|eot|>", t.eosText());
        assertEquals(TEMPLATE, t.chatTemplate());
        assertEquals("tools", t.chatTemplate("tool_use"));
        assertEquals(264, t.vocabSize());
    }

    @Test
    void specialTokenTextInsideLiteralSpansIsPlainText() throws Exception {
        HfTokenizer t = HfTokenizer.load(write(dir));
        String prompt = "<|bos|>hello<|eot|>hello<|eot|>"; // the content is "hello<|eot|>hello"
        int start = "<|bos|>".length(), end = prompt.lastIndexOf("<|eot|>");
        int[] guarded = t.encode(prompt, new LiteralSpans(java.util.List.of(new LiteralSpans.Span(start, end))));
        assertEquals(1, java.util.Arrays.stream(guarded).filter(id -> id == EOT).count(), java.util.Arrays.toString(guarded));
        assertEquals(2, java.util.Arrays.stream(t.encode(prompt, LiteralSpans.NONE)).filter(id -> id == EOT).count());
        assertEquals("hello<|eot|>hello", t.decode(guarded)); // control tokens decode to nothing, typed text as typed
        assertArrayEquals(new int[] {BOS, TOOL}, t.encode("<tool>", new LiteralSpans(java.util.List.of(new LiteralSpans.Span(0, 6)))),
                "non-special added tokens match inside content too, as they do without parsing special text");
    }

    @Test
    void specialTokensAreControlTextAndOtherAddedTokensStripTheirSpaces() throws Exception {
        HfTokenizer t = HfTokenizer.load(write(dir));
        // <tool> has lstrip and rstrip: the spaces around it go; special tokens match only when parsing special text
        assertArrayEquals(new int[] {HELLO, TOOL, HELLO, EOT}, t.encode("hello  <tool>  hello<|eot|>", false, true));
        int[] literal = t.encode("<|eot|>", false, false);
        assertTrue(literal.length > 1, "unparsed special text is plain text");
        assertEquals("<|eot|>", t.decode(literal));
        assertArrayEquals(new int[] {TOOL}, t.encode("<tool>", false, false), "non-special added tokens always match");
        assertEquals(0, t.tokenBytes(EOT).length, "special tokens are not output");
        assertEquals("<tool>", new String(t.tokenBytes(TOOL), StandardCharsets.UTF_8));
    }

    @Test
    void theConfigsAddBosTokenOverridesThePostProcessor() throws Exception {
        HfTokenizer off = HfTokenizer.load(write(dir.resolve("off"), tok -> { }, c -> c.put("add_bos_token", false)));
        assertArrayEquals(new int[] {HELLO}, off.encode("hello", true, true));
        HfTokenizer eos = HfTokenizer.load(write(dir.resolve("eos"), tok -> { }, c -> c.put("add_bos_token", true).put("add_eos_token", true)));
        assertArrayEquals(new int[] {BOS, HELLO, EOT}, eos.encode("hello", true, true));
    }

    @Test
    void ignoreMergesTakesWholeWordsFromTheVocabulary() throws Exception {
        // without merges "hello" is letters; with ignore_merges the vocabulary has it whole
        HfTokenizer t = HfTokenizer.load(write(dir, tok -> {
            ((com.fasterxml.jackson.databind.node.ObjectNode) tok.get("model")).put("ignore_merges", true).putArray("merges");
        }, c -> { }));
        assertArrayEquals(new int[] {HELLO, ' ', b('h'), b('e')}, t.encode("hello he", false, true));
    }

    @Test
    void nfcNormalizationComposesBeforeMerging() throws Exception {
        HfTokenizer t = HfTokenizer.load(write(dir, tok -> tok.putObject("normalizer").put("type", "NFC"), c -> { }));
        assertArrayEquals(t.encode("\u00e9", false, true), t.encode("e\u0301", false, true));
    }

    @Test
    void generationConfigAddsEndOfGenerationIds() throws Exception {
        write(dir);
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [" + EOT + ", " + TOOL + "]}");
        HfTokenizer t = HfTokenizer.load(dir);
        assertTrue(t.isEndOfGeneration(TOOL));
        assertFalse(t.isEndOfGeneration(HELLO));
    }

    @Test
    void unsupportedOrBrokenFilesAreRefusedNamingTheProblem() throws Exception {
        var e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(write(dir.resolve("a"),
                tok -> ((com.fasterxml.jackson.databind.node.ObjectNode) tok.get("model")).put("type", "WordPiece"), c -> { })));
        assertTrue(e.getMessage().contains("unsupported tokenizer model 'WordPiece'"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(write(dir.resolve("b"),
                tok -> tok.putObject("pre_tokenizer").put("type", "Metaspace"), c -> { })));
        assertTrue(e.getMessage().contains("unsupported pre_tokenizer type 'Metaspace'"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(write(dir.resolve("c"), tok -> { }, c -> c.put("bos_token", "<nope>"))));
        assertTrue(e.getMessage().contains("bos_token '<nope>' is not a token"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(write(dir.resolve("x"), tok -> { }, c -> c.put("remove_space", true))));
        assertTrue(e.getMessage().contains("remove_space is not supported"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(dir.resolve("missing")));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        Files.writeString(write(dir.resolve("d")).resolve("tokenizer.json"), "{not json");
        e = assertThrows(ModelFormatException.class, () -> HfTokenizer.load(dir.resolve("d")));
        assertTrue(e.getMessage().contains("not readable JSON"), e.getMessage());
    }

    @Test
    void aDirectoryWithoutChatTemplateInTheConfigReadsChatTemplateJinja() throws Exception {
        write(dir, tok -> { }, c -> c.remove("chat_template"));
        assertNull(HfTokenizer.load(dir).chatTemplate());
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages[0].content }}");
        assertEquals("{{ messages[0].content }}", HfTokenizer.load(dir).chatTemplate());
    }

    @Test
    void onigurumaShorthandsKeepTheirUnicodeMeaning() {
        // \s is White_Space (U+0085 yes, U+FEFF no), (?i:) folds ASCII only, \h is a hex digit
        assertTrue(OnigurumaPattern.compile("^\\s$").matcher("\u0085").find());
        assertFalse(OnigurumaPattern.compile("^\\s$").matcher("\ufeff").find());
        assertTrue(OnigurumaPattern.compile("(?i:'s)").matcher("'S").find());
        assertFalse(OnigurumaPattern.compile("(?i:'s)").matcher("'\u017f").find(), "long s is not folded");
        assertTrue(OnigurumaPattern.compile("^\\h+$").matcher("09aF").find());
        assertFalse(OnigurumaPattern.compile("\\h").matcher(" \t").find());
        assertTrue(OnigurumaPattern.compile("^(?:ab){2}+$").matcher("abababab").find(), "X{n}+ repeats, not possessive");
    }
}
