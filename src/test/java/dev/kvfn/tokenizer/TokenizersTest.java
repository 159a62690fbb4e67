package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** GGUF tokenizers beyond llama.cpp's vectors: special tokens, BOS rules, round trips, the llama2.c twin. */
class TokenizersTest {
    static final List<String> SAMPLES = List.of("Hello world", "  two  spaces\tand a tab\n\nnew lines",
            "Ünïcödé — “quotes” 日本語 🦙 emoji", "code: if (x != 0) { return y[i] * 2; }", "1234567 numbers 3.14159");

    static Path models() {
        return Path.of(System.getProperty("kvfn.shared.models", "../shared/models"));
    }

    static Tokenizer open(String file) {
        Path p = models().resolve(file);
        assumeTrue(Files.exists(p), "shared models absent: " + p);
        try (GgufFile g = GgufFile.open(p)) {
            return Tokenizers.fromGguf(g);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama.cpp-vocab/ggml-vocab-llama-spm.gguf", "llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
            "llama.cpp-vocab/ggml-vocab-deepseek-llm.gguf", "llama.cpp-vocab/ggml-vocab-falcon.gguf"})
    void decodeInvertsEncode(String file) {
        Tokenizer tok = open(file);
        for (String s : SAMPLES) {
            int[] ids = tok.encode(s, false, false);
            String decoded = tok.decode(ids);
            // SentencePiece adds one dummy-prefix space, which llama.cpp also keeps in the decoded text
            String expected = tok instanceof SpmTokenizer ? " " + s : s;
            assertEquals(expected, decoded, file + ": " + Arrays.toString(ids));
        }
    }

    @Test
    void bosIsAddedAsTheModelAsksAndSpecialTextIsParsedOnlyWhenAsked() {
        Tokenizer spm = open("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
        int[] withBos = spm.encode("Hello", true, false);
        assertEquals(1, withBos[0]);
        assertArrayEquals(spm.encode("Hello", false, false), Arrays.copyOfRange(withBos, 1, withBos.length));
        int[] parsed = spm.encode("a</s>b", false, true);
        assertTrue(Arrays.stream(parsed).anyMatch(t -> t == 2), Arrays.toString(parsed));
        int[] literal = spm.encode("a</s>b", false, false);
        assertFalse(Arrays.stream(literal).anyMatch(t -> t == 2), Arrays.toString(literal));
        assertTrue(spm.isEndOfGeneration(2));
        assertFalse(spm.isEndOfGeneration(1));
        assertEquals(0, spm.tokenBytes(1).length, "control tokens print nothing");

        Tokenizer gpt2 = open("llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
        assertArrayEquals(gpt2.encode("Hello", false, false), gpt2.encode("Hello", true, false), "gpt-2 adds no BOS by default");
        assertTrue(gpt2.isEndOfGeneration(50256));
    }

    @Test
    void stories260kGgufVocabularyTokenizesLikeTheLlama2cTokenizer() throws Exception {
        Path bin = models().resolve("tok512.bin");
        assumeTrue(Files.exists(bin), "shared models absent: " + bin);
        Tokenizer gguf = open("stories260K.gguf");
        Tokenizer llama2c = Llama2cTokenizer.load(bin);
        for (String s : List.of("Once upon a time", "Lily saw a big, red ball. She was happy!", "The cat sat on the mat.")) {
            assertArrayEquals(llama2c.encode(s, true, false), gguf.encode(s, true, false), s);
        }
    }

    @Test
    void unsupportedTokenizerModelFailsNamingTheFile() {
        Path bert = models().resolve("llama.cpp-vocab/ggml-vocab-bert-bge.gguf");
        assumeTrue(Files.exists(bert), "shared models absent: " + bert);
        try (GgufFile g = GgufFile.open(bert)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromGguf(g));
            assertTrue(e.getMessage().contains(bert.toString()) && e.getMessage().contains("'bert'"), e.getMessage());
        }
    }
}
