package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One forward step over rows of several sequences must be, sequence by sequence, the same
 * computation as running each sequence alone through the single-sequence path.
 */
class BatchedForwardTest {
    private static final int[] PROMPT_LENGTHS = {11, 3, 29, 1};
    private static final int DECODE_STEPS = 12;

    @TempDir
    Path tmp;

    private interface Body {
        void run(LlamaConfig config, LlamaWeights weights, WorkerPool pool);
    }

    private static void withGguf(Path file, int threads, Body body) {
        try (GgufFile gguf = GgufFile.open(file); var pool = new WorkerPool(threads)) {
            LlamaConfig config = LlamaConfig.fromGguf(gguf);
            body.run(config, LlamaWeights.load(config, gguf.tensors(), file, pool), pool);
        }
    }

    private void withTinySynthetic(int threads, Body body) throws Exception {
        Path file = tmp.resolve("tiny-f32.gguf");
        SyntheticModel.write(SyntheticModel.Shape.TINY, GgmlType.F32, 7, file);
        withGguf(file, threads, body);
    }

    private static void withStories(int threads, Body body) {
        withGguf(SharedModels.file("stories260K.gguf"), threads, body);
    }

    // ---- sequences run together equal sequences run alone ----

    @Test
    void stories260kSequencesBatchedEqualSequencesAlone() {
        withStories(2, (config, weights, pool) -> batchedEqualsAlone(config, weights, pool, 8));
    }

    @Test
    void syntheticSequencesBatchedEqualSequencesAlone() throws Exception {
        withTinySynthetic(2, (config, weights, pool) -> batchedEqualsAlone(config, weights, pool, 8));
    }

    @Test
    void wholePromptsInOneStepEqualSequencesAlone() throws Exception {
        // every prompt in full in the first step (44 rows of four sequences), single-threaded
        withTinySynthetic(1, (config, weights, pool) -> batchedEqualsAlone(config, weights, pool, 64));
    }

    /**
     * Schedules {@link #PROMPT_LENGTHS} sequences the way continuous batching does: each step takes up
     * to {@code chunk} prompt rows of every sequence still in prefill and one decode row of every
     * other one, in an order that changes from step to step. The short prompts finish prefill first,
     * so later steps mix prompt chunks with decode rows.
     */
    static void batchedEqualsAlone(LlamaConfig config, LlamaWeights weights, WorkerPool pool, int chunk) {
        int n = PROMPT_LENGTHS.length;
        int[][] prompts = new int[n][];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int s = 0; s < n; s++) prompts[s] = rnd.ints(PROMPT_LENGTHS[s], 1, config.vocab()).toArray();

        // alone: the single-sequence path, one transformer and store per sequence
        float[][][] aloneLogits = new float[n][DECODE_STEPS + 1][];
        int[][] aloneTokens = new int[n][DECODE_STEPS];
        for (int s = 0; s < n; s++) {
            var t = new Transformer(config, weights, pool, 512);
            var kv = ContiguousKv.forModel(config);
            float[] logits = Prefill.forward(t, prompts[s], 0, prompts[s].length, 0, kv);
            aloneLogits[s][0] = logits.clone();
            for (int d = 0; d < DECODE_STEPS; d++) {
                aloneTokens[s][d] = Sampler.argmax(logits, logits.length);
                logits = Prefill.forward(t, aloneTokens[s], d, 1, prompts[s].length + d, kv);
                aloneLogits[s][d + 1] = logits.clone();
            }
        }

        // together: one transformer, a store per sequence, batched steps
        var t = new Transformer(config, weights, pool, 128);
        var batch = new Transformer.StepBatch(128, n, config.vocab());
        SequenceKv[] stores = new SequenceKv[n];
        for (int s = 0; s < n; s++) stores[s] = ContiguousKv.forModel(config);
        int[] prefilled = new int[n];   // prompt rows already run
        int[] produced = new int[n];    // logit vectors received (prompt end, then one per decode step)
        int[][] tokens = new int[n][DECODE_STEPS];
        int[] rowSequence = new int[n];
        int mixedSteps = 0, steps = 0;
        while (Arrays.stream(produced).anyMatch(p -> p < DECODE_STEPS + 1)) {
            batch.clear();
            int prefillRows = 0, decodeRows = 0;
            for (int i = 0; i < n; i++) {
                int s = (i + steps) % n; // a different sequence order every step
                int len = prompts[s].length;
                if (prefilled[s] < len) {
                    int take = Math.min(chunk, len - prefilled[s]);
                    for (int r = 0; r < take; r++) {
                        int pos = prefilled[s] + r;
                        boolean last = pos == len - 1;
                        if (last) rowSequence[batch.logitCount()] = s;
                        batch.add(prompts[s][pos], pos, stores[s], last);
                    }
                    prefilled[s] += take;
                    prefillRows += take;
                } else if (produced[s] < DECODE_STEPS + 1) {
                    int d = produced[s] - 1; // the decode step whose token this row feeds
                    rowSequence[batch.logitCount()] = s;
                    batch.add(tokens[s][d], len + d, stores[s], true);
                    decodeRows++;
                }
            }
            t.forward(batch);
            for (int j = 0; j < batch.logitCount(); j++) {
                int s = rowSequence[j];
                float[] logits = Arrays.copyOfRange(batch.logits(), batch.logitOffset(j), batch.logitOffset(j) + config.vocab());
                assertClose(aloneLogits[s][produced[s]], logits, "sequence " + s + ", logits #" + produced[s]);
                if (produced[s] < DECODE_STEPS) tokens[s][produced[s]] = Sampler.argmax(logits, logits.length);
                produced[s]++;
            }
            if (prefillRows > 0 && decodeRows > 0) mixedSteps++;
            steps++;
            assertTrue(steps < 100, "the schedule must finish");
        }
        for (int s = 0; s < n; s++) assertArrayEquals(aloneTokens[s], tokens[s], "greedy tokens of sequence " + s);
        if (chunk < 29) assertTrue(mixedSteps > 0, "some steps must mix prompt chunks with decode rows");
    }

    // ---- mixing: a prompt chunk between other sequences' decode rows ----

    @Test
    void promptChunkAndDecodeRowsShareOneStep() {
        withStories(2, (config, weights, pool) -> {
            int[] a = {1, 403, 407, 261, 378, 429, 270, 325, 279};  // decodes
            int[] b = {1, 442, 415, 414, 406, 286, 267};             // decodes
            int[] c = {1, 317, 287, 290, 421, 267, 374, 295, 450, 260, 400, 322, 266}; // prompt arrives late

            // alone
            var single = new Transformer(config, weights, pool, 512);
            float[] aNext = aloneLogits(single, config, a, 5, 1)[1];
            float[] bNext = aloneLogits(single, config, b, 6, 1)[1];
            float[] cEnd = aloneLogits(single, config, c, c.length, 0)[0];

            // together: a and b run their first tokens, then one step holds a's decode row,
            // all of c's prompt and b's decode row, in that order
            var t = new Transformer(config, weights, pool, 512);
            var batch = new Transformer.StepBatch(32, 3, config.vocab());
            var kvA = ContiguousKv.forModel(config);
            var kvB = ContiguousKv.forModel(config);
            var kvC = ContiguousKv.forModel(config);
            for (int i = 0; i < 5; i++) batch.add(a[i], i, kvA, false);
            for (int i = 0; i < 6; i++) batch.add(b[i], i, kvB, false);
            t.forward(batch);
            assertEquals(0, batch.logitCount(), "no row asked for logits");

            batch.clear();
            batch.add(a[5], 5, kvA, true);
            for (int i = 0; i < c.length; i++) batch.add(c[i], i, kvC, i == c.length - 1);
            batch.add(b[6], 6, kvB, true);
            t.forward(batch);
            assertEquals(2 + c.length, batch.rows());
            assertArrayEquals(new int[] {0, c.length, c.length + 1},
                    new int[] {batch.logitRow(0), batch.logitRow(1), batch.logitRow(2)});
            assertClose(aNext, logitRow(batch, 0), "a's decode row");
            assertClose(cEnd, logitRow(batch, 1), "c's prompt end");
            assertClose(bNext, logitRow(batch, 2), "b's decode row");
        });
    }

    /** Logits after the first {@code prefix} tokens, then after each of the next {@code more} tokens. */
    private static float[][] aloneLogits(Transformer t, LlamaConfig config, int[] tokens, int prefix, int more) {
        var kv = ContiguousKv.forModel(config);
        float[][] out = new float[more + 1][];
        out[0] = Prefill.forward(t, tokens, 0, prefix, 0, kv).clone();
        for (int i = 0; i < more; i++) out[i + 1] = Prefill.forward(t, tokens, prefix + i, 1, prefix + i, kv).clone();
        return out;
    }

    private static float[] logitRow(Transformer.StepBatch batch, int j) {
        int from = batch.logitOffset(j);
        return Arrays.copyOfRange(batch.logits(), from, from + batch.vocab());
    }

    // ---- attention stays inside its own sequence ----

    @Test
    void eachRowReadsOnlyItsOwnSequenceUpToItsPosition() throws Exception {
        withTinySynthetic(2, (config, weights, pool) -> {
            var t = new Transformer(config, weights, pool, 512);
            var a = new RecordingKvStore(ContiguousKv.forModel(config));
            var b = new RecordingKvStore(ContiguousKv.forModel(config));
            int[] tokens = {5, 6, 7, 8, 9, 10};
            int[] positions = {0, 1, 2, 0, 1, 2};
            SequenceKv[] stores = {a, a, a, b, b, b};
            float[] logits = new float[2 * config.vocab()];
            t.forward(tokens, positions, stores, 3, new int[] {2}, 1, logits); // a alone first
            assertEquals(2, a.maxRead);
            assertEquals(-1, b.maxRead, "b has no rows yet");
            a.maxRead = -1;
            // a continues at 3..4 while b starts: a must read 0..4, b only 0..2
            int[] t2 = {11, 12, 8, 9, 10};
            int[] p2 = {3, 4, 0, 1, 2};
            SequenceKv[] s2 = {a, a, b, b, b};
            t.forward(t2, p2, s2, 5, new int[] {1, 4}, 2, logits);
            assertEquals(4, a.maxRead);
            assertEquals(2, b.maxRead);
            assertEquals(3 * config.layers(), b.writes);
            assertEquals(5 * config.layers(), a.writes);
        });
    }

    // ---- no allocation per step ----

    @Test
    void aStepAllocatesNothingOnceWarm() throws Exception {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        org.junit.jupiter.api.Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported(),
                "this JVM cannot count allocated bytes per thread");
        // one thread: every share of the work runs on this thread, so its allocation counter sees it all
        withTinySynthetic(1, (config, weights, pool) -> {
            var t = new Transformer(config, weights, pool, 16);
            var batch = new Transformer.StepBatch(16, 4, config.vocab());
            SequenceKv[] stores = new SequenceKv[4];
            for (int s = 0; s < 4; s++) stores[s] = ContiguousKv.forModel(config);
            long tid = Thread.currentThread().threadId();
            long perStep = Long.MAX_VALUE;
            for (int round = 0; round < 20 && perStep > 0; round++) {
                long before = threads.getThreadAllocatedBytes(tid);
                for (int step = 0; step < 200; step++) {
                    // the same slots every step: a decode row of each of three sequences around a prompt chunk
                    batch.clear();
                    batch.add(7, 20, stores[0], true);
                    for (int i = 0; i < 5; i++) batch.add(9 + i, 30 + i, stores[1], i == 4);
                    batch.add(8, 40, stores[2], true).add(6, 50, stores[3], true);
                    t.forward(batch);
                }
                perStep = (threads.getThreadAllocatedBytes(tid) - before) / 200;
            }
            assertEquals(0, perStep, "bytes allocated per step once the JIT has compiled the step");
        });
    }

    // ---- bad input ----

    @Test
    void malformedStepsAreRefusedBeforeAnythingIsWritten() throws Exception {
        withTinySynthetic(1, (config, weights, pool) -> {
            var t = new Transformer(config, weights, pool, 4);
            var a = new RecordingKvStore(ContiguousKv.forModel(config));
            var b = new RecordingKvStore(ContiguousKv.forModel(config));
            var small = new RecordingKvStore(new ContiguousKv(config.layers(), 8, config.kvHeads(), config.headSize()));
            float[] logits = new float[4 * config.vocab()];
            int[] none = new int[0];

            expectRefused("exceeds this transformer's maximum of 4", () -> t.forward(new int[5], new int[] {0, 1, 2, 3, 4},
                    new SequenceKv[] {a, a, a, a, a}, 5, none, 0, logits));
            expectRefused("at least one row", () -> t.forward(new int[1], new int[1], new SequenceKv[] {a}, 0, none, 0, logits));
            expectRefused("position 8 does not fit a sequence of 8 positions",
                    () -> t.forward(new int[] {1, 2}, new int[] {0, 8}, new SequenceKv[] {a, small}, 2, none, 0, logits));
            expectRefused("position -1 does not fit",
                    () -> t.forward(new int[] {1}, new int[] {-1}, new SequenceKv[] {a}, 1, none, 0, logits));
            expectRefused("position 2 does not follow position 3",
                    () -> t.forward(new int[] {1, 2}, new int[] {3, 2}, new SequenceKv[] {a, a}, 2, none, 0, logits));
            expectRefused("position 5 does not follow position 3",
                    () -> t.forward(new int[] {1, 2}, new int[] {3, 5}, new SequenceKv[] {a, a}, 2, none, 0, logits));
            expectRefused("row 2 continues the sequence of row 0",
                    () -> t.forward(new int[] {1, 2, 3}, new int[] {0, 0, 1}, new SequenceKv[] {a, b, a}, 3, none, 0, logits));
            expectRefused("outside the vocabulary",
                    () -> t.forward(new int[] {1, config.vocab()}, new int[] {0, 0}, new SequenceKv[] {a, b}, 2, none, 0, logits));
            expectRefused("row 1 has no KV store",
                    () -> t.forward(new int[] {1, 2}, new int[] {0, 0}, new SequenceKv[] {a, null}, 2, none, 0, logits));
            expectRefused("logit row 0 at index 1",
                    () -> t.forward(new int[] {1, 2}, new int[] {0, 0}, new SequenceKv[] {a, b}, 2, new int[] {1, 0}, 2, logits));
            expectRefused("logit row 2 at index 0",
                    () -> t.forward(new int[] {1, 2}, new int[] {0, 0}, new SequenceKv[] {a, b}, 2, new int[] {2}, 1, logits));
            expectRefused("the logits buffer holds",
                    () -> t.forward(new int[] {1, 2}, new int[] {0, 0}, new SequenceKv[] {a, b}, 2, new int[] {0, 1}, 2,
                            new float[config.vocab()]));
            assertEquals(0, a.writes + b.writes + small.writes, "a refused step must not write any K/V");

            var batch = new Transformer.StepBatch(4, 1, config.vocab());
            batch.add(1, 0, a, true);
            var full = assertThrows(IllegalStateException.class, () -> batch.add(2, 0, b, true));
            assertTrue(full.getMessage().contains("logit rows"), full.getMessage());
            batch.add(2, 1, a, false).add(3, 2, a, false).add(4, 3, a, false);
            var over = assertThrows(IllegalStateException.class, () -> batch.add(5, 4, a, false));
            assertTrue(over.getMessage().contains("full"), over.getMessage());
            var wrongVocab = new Transformer.StepBatch(1, 1, config.vocab() + 1).add(1, 0, a, true);
            expectRefused("vocabulary", () -> t.forward(wrongVocab));

            // the valid batch still runs, and a too-big batch is refused by the transformer
            t.forward(batch);
            assertEquals(4 * config.layers(), a.writes);
            var big = new Transformer.StepBatch(5, 1, config.vocab());
            for (int i = 0; i < 5; i++) big.add(1, i, b, i == 4);
            expectRefused("a step of 5 rows exceeds", () -> t.forward(big));
        });
    }

    private static void expectRefused(String fragment, Runnable step) {
        var e = assertThrows(IllegalArgumentException.class, step::run);
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        float worst = 0;
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        assertTrue(worst <= 1e-4f, what + ": logits differ by up to " + worst);
    }

    /** Delegates to a real store, counting writes and remembering the highest position attention read. */
    private static final class RecordingKvStore extends PerPositionKv {
        private final ContiguousKv inner;
        int writes;
        int maxRead = -1;

        RecordingKvStore(ContiguousKv inner) {
            this.inner = inner;
        }

        @Override
        public int capacity() {
            return inner.capacity();
        }

        @Override
        public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
            synchronized (this) {
                writes++;
            }
            inner.write(layer, position, k, kOffset, v, vOffset);
        }

        @Override
        float keyDot(int layer, int position, int kvHead, float[] q, int qOffset) {
            synchronized (this) {
                maxRead = Math.max(maxRead, position);
            }
            return inner.keyDot(layer, position, kvHead, q, qOffset);
        }

        @Override
        void addValue(int layer, int position, int kvHead, float weight, float[] out, int outOffset) {
            inner.addValue(layer, position, kvHead, weight, out, outOffset);
        }
    }
}
