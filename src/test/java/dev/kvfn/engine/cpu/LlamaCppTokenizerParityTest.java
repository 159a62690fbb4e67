package dev.kvfn.engine.cpu;

import dev.kvfn.model.GgufFile;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * kvfn's tokenizers against llama.cpp's live, on llama.cpp's vocabulary-only GGUFs in ../shared/models: the same
 * texts, with special-token text read as text and parsed, must give the same ids. Unlike llama.cpp's shipped
 * test vectors this also covers vocabularies that ship none (gpt-neox, baichuan) and texts of our choosing.
 */
class LlamaCppTokenizerParityTest {
    /** The vocabularies checked. Not here: bert-bge (WordPiece, which kvfn does not load). */
    static final List<String> VOCABS = List.of("llama-spm", "phi-3", "gpt-2", "gpt-neox", "falcon", "mpt", "starcoder", "refact",
            "deepseek-coder", "deepseek-llm", "baichuan");

    static final List<String> TEXTS = List.of("Once upon a time", "Hello world", "  two  spaces\tand\ttabs\n\nnewlines",
            "numbers 1234567 3.14159 and symbols: (a+b)*c=d!? #@$%^&", "héllo wörld — 日本語 🦙 Здравствуйте",
            "special <s> and </s> <|endoftext|> [CLS] inside", "   ", "a", "I'm don't we'll THEY'RE",
            "def f(x):\n    return x**2  # comment",
            // whitespace around special-token text: Phi-3's tokens strip what follows them (all but <s>, <unk> and
            // <|endoftext|>), "</s>" is a control token wherever a vocabulary has it
            "<|user|>\n  Hi there<|end|>\n<|assistant|>  Hello</s>\n\tnext", "<s> x </s>  y <|endoftext|>  z <unk> \n w",
            "  <|endoftext|>\n\n<|endoftext|>\t", "<|system|> \r\n\u000b\f<|placeholder1|>end </s>");

    @TempDir
    static Path dir;
    private static String unavailable;
    private static List<LlamaCppReference.ModelAnswer> answers;
    private static List<Path> files;

    @BeforeAll
    static void askLlamaCpp() throws Exception {
        try {
            LlamaCppReference.requireInstalled(); // fails with CI=true
            files = new ArrayList<>();
            for (String v : VOCABS) files.add(SharedModels.file("llama.cpp-vocab/ggml-vocab-" + v + ".gguf"));
        } catch (TestAbortedException e) {
            unavailable = e.getMessage();
            System.out.println("[llama.cpp tokenizer parity] skipped: " + unavailable);
            return;
        }
        List<LlamaCppReference.ModelRequest> requests = new ArrayList<>();
        for (int i = 0; i < VOCABS.size(); i++) requests.add(LlamaCppReference.ModelRequest.vocabulary(VOCABS.get(i), files.get(i), TEXTS));
        answers = LlamaCppReference.run(requests, 1, dir).models();
    }

    @TestFactory
    Stream<DynamicTest> kvfnTokenizesLikeLlamaCpp() {
        return VOCABS.stream().map(v -> DynamicTest.dynamicTest(v, () -> {
            Assumptions.assumeTrue(unavailable == null, () -> unavailable);
            int i = VOCABS.indexOf(v);
            var reference = answers.get(i);
            assertEquals(v, reference.name());
            try (GgufFile gguf = GgufFile.open(files.get(i))) {
                Tokenizer tok = Tokenizers.fromGguf(gguf);
                assertEquals(tok.vocabSize(), reference.vocab(), v + ": vocabulary size");
                for (var t : reference.texts()) {
                    assertArrayEquals(t.tokens(), tok.encode(t.text(), false, false),
                            v + ": tokens of \"" + t.text() + "\" (special tokens as text) differ from llama.cpp's");
                    assertArrayEquals(t.tokensParsingSpecial(), tok.encode(t.text(), false, true),
                            v + ": tokens of \"" + t.text() + "\" (special tokens parsed) differ from llama.cpp's");
                }
            }
        }));
    }
}
