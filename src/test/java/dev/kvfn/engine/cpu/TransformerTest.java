package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Batched prefill must be the same computation as feeding tokens one at a time. */
class TransformerTest {
    private static final String TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside.";

    private interface Body {
        void run(LlamaConfig config, LlamaWeights weights, WorkerPool pool, int[] prompt);
    }

    private static void withModel(int threads, Body body) {
        Path bin = SharedModels.file("stories260K.bin"), tok = SharedModels.file("tok512.bin");
        try (var checkpoint = Llama2cCheckpoint.open(bin); var pool = new WorkerPool(threads)) {
            LlamaConfig config = LlamaConfig.fromLlama2c(checkpoint.header());
            LlamaWeights weights = LlamaWeights.load(config, checkpoint.tensors(), bin, pool);
            body.run(config, weights, pool, Llama2cTokenizer.load(tok).encode(TEXT, true, false));
        }
    }

    @Test
    void prefillInOneBatchEqualsTokenByToken() {
        withModel(2, (config, weights, pool, prompt) -> {
            assertTrue(prompt.length > 15, "prompt should span many tokens: " + prompt.length);
            var batched = new Transformer(config, weights, pool, 512);
            var kvBatched = ContiguousKv.forModel(config);
            float[] a = Prefill.forward(batched, prompt, 0, prompt.length, 0, kvBatched).clone();

            var serial = new Transformer(config, weights, pool, 512);
            var kvSerial = ContiguousKv.forModel(config);
            float[] b = null;
            for (int i = 0; i < prompt.length; i++) b = Prefill.forward(serial, prompt, i, 1, i, kvSerial);
            assertClose(a, b);

            // and the greedy continuations agree token for token
            int[] ta = continueGreedy(batched, kvBatched, a, prompt.length, 40);
            int[] tb = continueGreedy(serial, kvSerial, b.clone(), prompt.length, 40);
            assertArrayEquals(ta, tb);
        });
    }

    @Test
    void chunkedPrefillAndThreadCountDoNotChangeLogits() {
        float[][] results = new float[2][];
        for (int threads = 1; threads <= 2; threads++) {
            int slot = threads - 1;
            withModel(threads, (config, weights, pool, prompt) -> {
                float[] whole = Prefill.forward(new Transformer(config, weights, pool, 512), prompt, 0, prompt.length, 0,
                        ContiguousKv.forModel(config));
                var chunked = new Transformer(config, weights, pool, 7); // several chunks, the last one partial
                float[] parts = Prefill.forward(chunked, prompt, 0, prompt.length, 0, ContiguousKv.forModel(config));
                assertClose(whole, parts);
                results[slot] = whole;
            });
        }
        assertClose(results[0], results[1]);
    }

    @Test
    void differentPromptsGiveDifferentLogits() {
        withModel(1, (config, weights, pool, prompt) -> {
            var t = new Transformer(config, weights, pool, 512);
            float[] a = Prefill.forward(t, prompt, 0, prompt.length, 0, ContiguousKv.forModel(config)).clone();
            float[] b = Prefill.forward(t, prompt, 0, prompt.length - 3, 0, ContiguousKv.forModel(config));
            assertTrue(!Arrays.equals(a, b), "logits must depend on the input");
        });
    }

    @Test
    void positionsBeyondTheStoreAndBadTokensAreRefused() {
        withModel(1, (config, weights, pool, prompt) -> {
            var t = new Transformer(config, weights, pool, 512);
            var small = new ContiguousKv(config.layers(), 8, config.kvHeads(), config.headSize());
            var e = assertThrows(IllegalArgumentException.class, () -> Prefill.forward(t, prompt, 0, prompt.length, 0, small));
            assertTrue(e.getMessage().contains("does not fit a sequence of 8 positions"), e.getMessage());
            var bad = assertThrows(IllegalArgumentException.class,
                    () -> Prefill.forward(t, new int[] {1, config.vocab()}, 0, 2, 0, ContiguousKv.forModel(config)));
            assertTrue(bad.getMessage().contains("outside the vocabulary"), bad.getMessage());
        });
    }

    private static int[] continueGreedy(Transformer t, SequenceKv kv, float[] logits, int pos, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = Sampler.argmax(logits, logits.length);
            logits = Prefill.forward(t, out, i, 1, pos + i, kv);
        }
        return out;
    }

    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        float worst = 0;
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        assertTrue(worst <= 1e-4f, "logits differ by up to " + worst);
    }
}
