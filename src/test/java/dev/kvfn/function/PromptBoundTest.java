package dev.kvfn.function;

import dev.kvfn.config.KvConfig;
import dev.kvfn.config.LimitsConfig;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import dev.kvfn.tokenizer.LiteralSpans;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A prompt that cannot fit the context is refused before it is tokenized (work counted in characters handed to the
 * tokenizer, not in time), and the bound that decides it is exact: no text is refused that would have fit.
 */
class PromptBoundTest {
    static final Path MODELS = Path.of(System.getProperty("kvfn.shared.models", "../shared/models"));

    /** A tokenizer that counts the characters it was asked to encode. */
    record Counting(Tokenizer inner, AtomicLong chars) implements Tokenizer {
        Counting(Tokenizer inner) {
            this(inner, new AtomicLong());
        }

        @Override public int vocabSize() { return inner.vocabSize(); }
        @Override public int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal) {
            chars.addAndGet(text.length());
            return inner.encode(text, addSpecial, parseSpecial, literal);
        }
        @Override public byte[] tokenBytes(int token) { return inner.tokenBytes(token); }
        @Override public String decode(int[] tokens) { return inner.decode(tokens); }
        @Override public String piece(int token) { return inner.piece(token); }
        @Override public int bos() { return inner.bos(); }
        @Override public int eos() { return inner.eos(); }
        @Override public boolean isEndOfGeneration(int token) { return inner.isEndOfGeneration(token); }
    }

    record StubEngine(Tokenizer tokenizer, int context) implements Engine {
        @Override public ModelInfo model() { return new ModelInfo("stub", "test", "llama", context, tokenizer.vocabSize(), null); }
        @Override public Generation submit(GenerationRequest request, TokenSink sink) { throw new UnsupportedOperationException(); }
        @Override public void close() {}
    }

    record Limits(int maxPromptChars) implements LimitsConfig {
        @Override public int maxTokens() { return 4096; }
        @Override public int defaultMaxTokens() { return 16; }
        @Override public int maxRequests() { return 64; }
        @Override public Duration requestTimeout() { return Duration.ofMinutes(10); }
    }

    static Tokenizer synthetic() throws Exception {
        return Tokenizers.fromGguf(GgufFile.open(SyntheticModel.tinyTempFile()));
    }

    static GenerationRequests requests(Tokenizer tokenizer, int context, int maxPromptChars) {
        GenerationRequests r = new GenerationRequests();
        r.engine = new StubEngine(tokenizer, context);
        r.limits = new Limits(maxPromptChars);
        r.kv = (KvConfig) Proxy.newProxyInstance(KvConfig.class.getClassLoader(), new Class<?>[]{KvConfig.class}, (p, m, a) -> {
            if (m.getName().equals("requireSalt")) return false;
            throw new UnsupportedOperationException(m.getName());
        });
        return r;
    }

    private static final GenerationRequests.Knobs NONE = new GenerationRequests.Knobs(1, null, null, null, null, 1L, null, null);

    @Test
    void aPromptPastTheContextIsRefusedWithoutTokenizingIt() throws Exception {
        Counting tok = new Counting(synthetic());
        GenerationRequests requests = requests(tok, 256, 1_000_000);
        BadRequestException e = assertThrows(BadRequestException.class,
                () -> requests.build("a".repeat(999_999), NONE, GenerationRequests.Style.FUNQY));
        assertEquals("prompt", e.param());
        assertTrue(e.getMessage().contains("999999 characters"), e.getMessage());
        assertEquals(0, tok.chars().get(), "characters tokenized");
        // one that fits is tokenized once, whole
        requests.build("Hello world", NONE, GenerationRequests.Style.FUNQY);
        assertEquals(11, tok.chars().get());
    }

    @Test
    void theBoundTokenizesAtMostContextTimesTheLongestPiece() throws Exception {
        Counting tok = new Counting(synthetic());
        int longest = GenerationRequests.longestPiece(tok);
        GenerationRequests requests = requests(tok, 256, 1_000_000);
        String atBound = "x".repeat(256 * longest); // within the bound: tokenized, then refused by its token count
        BadRequestException e = assertThrows(BadRequestException.class, () -> requests.build(atBound, NONE, GenerationRequests.Style.FUNQY));
        assertTrue(e.getMessage().contains("tokens; the model's context is 256"), e.getMessage());
        assertEquals(atBound.length(), tok.chars().get());
        assertThrows(BadRequestException.class, () -> requests.build(atBound + "x", NONE, GenerationRequests.Style.FUNQY));
        assertEquals(atBound.length(), tok.chars().get(), "one character more is refused untokenized");
    }

    /** The bound's premise: no text has fewer than length / longest-piece tokens, on every tokenizer kvfn has. */
    @Test
    void noTextHasFewerTokensThanItsLengthOverTheLongestPiece() throws Exception {
        List<Tokenizer> tokenizers = new ArrayList<>(List.of(synthetic()));
        if (Files.exists(MODELS.resolve("tok512.bin"))) tokenizers.add(Llama2cTokenizer.load(MODELS.resolve("tok512.bin")));
        List<String> texts = new ArrayList<>();
        Path vocabs = MODELS.resolve("llama.cpp-vocab");
        for (String v : List.of("llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "starcoder", "refact")) {
            Path gguf = vocabs.resolve("ggml-vocab-" + v + ".gguf");
            if (!Files.exists(gguf)) continue;
            tokenizers.add(Tokenizers.fromGguf(GgufFile.open(gguf)));
            texts.addAll(List.of(Files.readString(Path.of(gguf + ".inp"), StandardCharsets.UTF_8).split("\n__ggml_vocab_test__\n")));
        }
        Random random = new Random(7);
        String[] parts = {" ", "  ", "\n", "\t", "=", "-", "a", "the", "Hello", "日本", "😀", "é", "\u0301", "<s>", "</s>",
                "<|im_start|>", "<|endoftext|>", "<0x0A>", "1234567", "\u00a0", "▁"};
        for (int i = 0; i < 300; i++) {
            StringBuilder sb = new StringBuilder();
            for (int n = random.nextInt(60); n >= 0; n--) sb.append(parts[random.nextInt(parts.length)].repeat(1 + random.nextInt(40)));
            texts.add(sb.toString());
        }
        for (Tokenizer tok : tokenizers) {
            int longest = GenerationRequests.longestPiece(tok);
            for (String text : texts) {
                for (boolean parseSpecial : new boolean[]{true, false}) {
                    int tokens = tok.encode(text, false, parseSpecial).length;
                    assertTrue((long) tokens * longest >= text.length(), tok.getClass().getSimpleName() + " (longest piece " + longest
                            + "): " + tokens + " tokens for " + text.length() + " characters: "
                            + text.substring(0, Math.min(80, text.length())));
                }
            }
        }
    }

    @Test
    void tokenizeRefusesATextPastTheLimitWithoutTokenizingIt() throws Exception {
        Counting tok = new Counting(synthetic());
        TokenizeFunction f = new TokenizeFunction();
        f.engine = new StubEngine(tok, 256);
        f.limits = new Limits(1000);
        BadRequestException e = assertThrows(BadRequestException.class,
                () -> f.tokenize(new TokenizeFunction.Input("a".repeat(1001), null, null)));
        assertEquals("text", e.param());
        assertEquals(0, tok.chars().get());
        assertTrue(f.tokenize(new TokenizeFunction.Input("a".repeat(1000), false, null)).count() > 0, "at the limit it is tokenized");
        assertEquals(1000, tok.chars().get());
    }
}
