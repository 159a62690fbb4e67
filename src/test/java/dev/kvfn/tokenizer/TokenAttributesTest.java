package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama.cpp's token attributes derived from type, text and model name, and the special-token partition that follows
 * from them (control vs user-defined, whitespace stripping), on small hand-made vocabularies; the real Phi-3
 * vocabulary is checked against llama.cpp itself in LlamaCppTokenizerParityTest.
 */
class TokenAttributesTest {
    static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4;

    @TempDir
    Path dir;

    /** A vocabulary of the given pieces (all normal unless typed) with extra metadata; the partition of {@code text}. */
    private SpecialTokens special(String[] pieces, int[] types, Consumer<GgufWriter> metadata) throws Exception {
        return special(pieces, types, -1, metadata);
    }

    private SpecialTokens special(String[] pieces, int[] types, int eos, Consumer<GgufWriter> metadata) throws Exception {
        return SpecialTokens.from(pieces, attributes(pieces, types, eos, metadata));
    }

    private TokenAttributes attributes(String[] pieces, int[] types, int eos, Consumer<GgufWriter> metadata) throws Exception {
        GgufWriter w = new GgufWriter().putString("tokenizer.ggml.model", "gpt2");
        metadata.accept(w);
        Path file = dir.resolve("v.gguf");
        w.write(file);
        try (GgufFile gguf = GgufFile.open(file)) {
            return TokenAttributes.from(pieces, types, eos, gguf);
        }
    }

    private static List<String> show(List<SpecialTokens.Fragment> fragments) {
        return fragments.stream().map(f -> f.token() >= 0 ? "#" + f.token() : f.text()).toList();
    }

    @Test
    void manySpecialTokensPartitionAsFew() throws Exception {
        // 24 control tokens (enough that partition first scans for which occur), prefixes of each other among them,
        // and one user-defined: the same fragments as the token-by-token search, with and without special parsing
        List<String> pieces = new ArrayList<>(List.of("a", "<u>"));
        for (int i = 0; i < 24; i++) pieces.add("<|t" + i + "|>");
        int[] types = new int[pieces.size()];
        Arrays.fill(types, CONTROL);
        types[0] = NORMAL;
        types[1] = USER_DEFINED;
        SpecialTokens many = special(pieces.toArray(String[]::new), types, w -> {});
        String text = "a<|t1|><|t12|>x<|t1<u><|t23|><|t2|>";
        assertEquals(List.of("a", "#3", "#14", "x<|t1", "#1", "#25", "#4"), show(many.partition(text, true)));
        assertEquals(List.of("a<|t1|><|t12|>x<|t1", "#1", "<|t23|><|t2|>"), show(many.partition(text, false)));
        assertEquals(List.of("no tokens here"), show(many.partition("no tokens here", true)));
    }

    @Test
    void endOfGenerationTextIsAControlTokenWhateverItsType() throws Exception {
        String[] pieces = {"a", "</s>", "<|im_end|>", "<x>"};
        int[] types = {NORMAL, USER_DEFINED, NORMAL, USER_DEFINED};
        SpecialTokens st = special(pieces, types, w -> {});
        // as plain text unless special parsing is on; the user-defined "<x>" is split out either way
        assertEquals(List.of("a </s> b ", "#3"), show(st.partition("a </s> b <x>", false)));
        assertEquals(List.of("a ", "#1", " b ", "#3"), show(st.partition("a </s> b <x>", true)));
        assertEquals(List.of("#2"), show(st.partition("<|im_end|>", true)));
        assertTrue(st.isEndOfGeneration(1));
        assertTrue(st.isEndOfGeneration(2));
        assertFalse(st.isEndOfGeneration(3));
    }

    @Test
    void phi3SpecialTokensStripTheWhitespaceAfterThemExceptBosUnknownAndEndOfText() throws Exception {
        String[] pieces = {"<unk>", "<s>", "</s>", "<|endoftext|>", "<|user|>", "<|end|>", "x"};
        int[] types = {2, CONTROL, USER_DEFINED, CONTROL, CONTROL, CONTROL, NORMAL};
        SpecialTokens phi = special(pieces, types, w -> w.putString("general.name", "Phi3"));
        assertEquals(List.of("#4", "hi", "#5", "#1", " x ", "#3", " \n", "#2", "y"),
                show(phi.partition("<|user|>\n \t\u000b\f\rhi<|end|>  \n<s> x <|endoftext|> \n</s> \ny", true)));
        // stripping is the token's, not the text's: a token only matched when parsing strips nothing otherwise
        assertEquals(List.of("<|user|>\n x"), show(phi.partition("<|user|>\n x", false)));
        // another model's tokens keep their whitespace
        SpecialTokens other = special(pieces, types, w -> w.putString("general.name", "Llama"));
        assertEquals(List.of("#4", "\n hi"), show(other.partition("<|user|>\n hi", true)));
    }

    @Test
    void maskTokensOfJinaAndModernBertStripTheWhitespaceBeforeThem() throws Exception {
        String[] pieces = {"<mask>", "[MASK]", "a"};
        int[] types = {CONTROL, CONTROL, NORMAL};
        SpecialTokens jina = special(pieces, types, w -> w.putString("tokenizer.ggml.pre", "jina-v2-code"));
        assertEquals(List.of("a", "#0", " b ", "#1"), show(jina.partition("a \n <mask> b [MASK]", true)));
        SpecialTokens modern = special(pieces, types, w -> w.putString("general.name", "Modern-BERT base"));
        assertEquals(List.of("#0", " b", "#1"), show(modern.partition("<mask> b \t[MASK]", true)));
        assertEquals(List.of("#1"), show(modern.partition("  [MASK]", true)));
    }

    @Test
    void fillInTheMiddleTokensFoundByTextBecomeControlAndPadRepoSeparatorEndGeneration() throws Exception {
        String[] pieces = {"<fim_prefix>", "<fim_pad>", "<|file_sep|>", "<PRE>", "<|repo_name|>"};
        int[] types = new int[pieces.length];
        Arrays.fill(types, NORMAL);
        TokenAttributes a = attributes(pieces, types, -1, w -> {});
        assertTrue(a.has(0, TokenAttributes.CONTROL));
        assertFalse(a.has(3, TokenAttributes.CONTROL), "only the first prefix token found is the prefix token");
        assertFalse(a.isEndOfGeneration(0));
        assertTrue(a.isEndOfGeneration(1) && a.isEndOfGeneration(2) && a.isEndOfGeneration(4));
        // an id in the metadata replaces the search by text (and, as in llama.cpp, keeps its own type)
        TokenAttributes named = attributes(pieces, types, -1, w -> w.putUInt32("tokenizer.ggml.fim_pre_token_id", 3));
        assertFalse(named.has(0, TokenAttributes.CONTROL));
        assertFalse(named.has(3, TokenAttributes.CONTROL));
    }

    @Test
    void gptOssEndIsAMessageEndAndItsChannelTokensAreAlwaysText() throws Exception {
        String[] pieces = {"<|return|>", "<|call|>", "<|end|>", "<|channel|>", "<|start|>", "z"};
        int[] types = {CONTROL, CONTROL, CONTROL, CONTROL, CONTROL, NORMAL};
        TokenAttributes a = attributes(pieces, types, 0, w -> {});
        assertTrue(a.isEndOfGeneration(0) && a.isEndOfGeneration(1));
        assertFalse(a.isEndOfGeneration(2));
        for (int t : new int[] {2, 3, 4}) {
            assertTrue(a.has(t, TokenAttributes.USER_DEFINED) && !a.has(t, TokenAttributes.CONTROL), pieces[t]);
        }
        // without <|return|>/<|call|>, "<|end|>" ends generation as usual
        TokenAttributes plain = attributes(new String[] {"<|end|>", "z"}, new int[] {CONTROL, NORMAL}, -1, w -> {});
        assertTrue(plain.isEndOfGeneration(0));
    }

    @Test
    void endOfSequenceTextIsOrdinaryWhereToolResponsesEndGeneration() throws Exception {
        String[] pieces = {"<eos>", "</s>", "<|tool_response>"};
        int[] types = {CONTROL, NORMAL, CONTROL};
        TokenAttributes a = attributes(pieces, types, 0, w -> {});
        assertFalse(a.isEndOfGeneration(1));
        assertTrue(a.has(1, TokenAttributes.NORMAL) && !a.isSpecial(1));
        assertTrue(a.isEndOfGeneration(0) && a.isEndOfGeneration(2));
    }

    @Test
    void longerTokensInUtf8BytesAreMatchedFirst() throws Exception {
        // overlapping tokens: the first is shorter in chars (6 vs 8) but longer in UTF-8 bytes (14 vs 11), and
        // llama.cpp sorts by bytes, so it is the one matched
        String wide = "<｜中文｜>", narrow = "文｜><abc";
        assertEquals(14, wide.getBytes(StandardCharsets.UTF_8).length);
        assertEquals(11, narrow.getBytes(StandardCharsets.UTF_8).length);
        SpecialTokens st = special(new String[] {narrow, wide}, new int[] {USER_DEFINED, USER_DEFINED}, w -> {});
        assertEquals(List.of("#1", "<abc"), show(st.partition(wide + "<abc", false)));
    }
}
