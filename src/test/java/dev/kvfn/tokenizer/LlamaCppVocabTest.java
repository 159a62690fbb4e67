package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * llama.cpp's own tokenizer test vectors ({@code tests/test-tokenizer-0}): every input of {@code X.gguf.inp},
 * tokenized without BOS and without parsing special tokens, must give exactly the ids on the matching line of
 * {@code X.gguf.out}. Vocabularies not listed here are not claimed: bert-bge (WordPiece), and gpt-neox,
 * baichuan and qwen2, which come without a vocabulary file or without vectors.
 */
class LlamaCppVocabTest {
    static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    static Path vocabDir() {
        return Path.of(System.getProperty("kvfn.shared.models", "../shared/models"), "llama.cpp-vocab");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "starcoder", "refact"})
    void vectorsMatch(String vocab) throws Exception {
        Path gguf = vocabDir().resolve("ggml-vocab-" + vocab + ".gguf");
        assumeTrue(Files.exists(gguf), "shared models absent: " + gguf);
        String inp = Files.readString(Path.of(gguf + ".inp"), StandardCharsets.UTF_8);
        List<String> inputs = new ArrayList<>(Arrays.asList(inp.split(SEPARATOR, -1)));
        if (inputs.getLast().isEmpty() || inputs.getLast().equals("\n")) inputs.removeLast();
        List<String> expected = Files.readAllLines(Path.of(gguf + ".out"), StandardCharsets.UTF_8);
        assertEquals(inputs.size(), expected.size(), "inputs vs expected lines");
        try (GgufFile file = GgufFile.open(gguf)) {
            Tokenizer tok = Tokenizers.fromGguf(file);
            List<String> failures = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) {
                int[] ids = tok.encode(inputs.get(i), false, false);
                StringBuilder got = new StringBuilder();
                for (int id : ids) got.append(' ').append(id);
                if (!got.toString().equals(expected.get(i))) {
                    failures.add("input " + i + " " + escape(inputs.get(i)) + "\n  expected:" + expected.get(i) + "\n  got:     " + got);
                }
            }
            assertTrue(failures.isEmpty(), failures.size() + " of " + inputs.size() + " vectors differ:\n" + String.join("\n", failures));
        }
    }

    static String escape(String s) {
        return "'" + s.replace("\n", "\\n").replace("\t", "\\t") + "'";
    }
}
