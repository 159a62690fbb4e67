package dev.kvfn.engine.cpu;

import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;
import dev.kvfn.model.SyntheticModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The paged engine's caching and batching proven by equality: every cache path (prefix hit,
 * concurrent batches, chunked prefill, preemption under a tiny pool) gives exactly the greedy tokens
 * of a cold engine with prefix caching off, on stories260K (real weights) and a synthetic model (the cache,
 * batching and chunking cases also on synthetic qwen2, qwen3 and phi3 models).
 */
class PagedEngineTest {
    static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            + "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily asked her mom for help. "
            + "Her mom said, \"Let's try to get the ball together.\"";

    static CpuEngine stories(EngineOptions o) {
        return CpuEngine.load(SharedModels.file("stories260K.bin"), SharedModels.file("tok512.bin"), o);
    }

    static Path synthetic;

    static synchronized CpuEngine synthetic(EngineOptions o) {
        try {
            if (synthetic == null) synthetic = SyntheticModel.tinyTempFile();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return CpuEngine.load(synthetic, null, o);
    }

    private static final java.util.Map<String, Path> ARCH_FILES = new java.util.HashMap<>();

    /** The tiny synthetic model of another architecture (qwen2, qwen3, phi3), written once per JVM. */
    static synchronized CpuEngine synthetic(String arch, EngineOptions o) {
        Path file = ARCH_FILES.get(arch);
        try {
            if (file == null) {
                file = java.nio.file.Files.createTempFile("kvfn-synthetic-" + arch + "-", ".gguf");
                file.toFile().deleteOnExit();
                SyntheticModel.write(SyntheticModel.Arch.byName(arch), SyntheticModel.Shape.TINY, dev.kvfn.model.GgmlType.F32, 0, file);
                ARCH_FILES.put(arch, file);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return CpuEngine.load(file, null, o);
    }

    static CpuEngine engine(String model, EngineOptions o) {
        return switch (model) {
            case "stories" -> stories(o);
            case "synthetic" -> synthetic(o);
            default -> synthetic(model, o);
        };
    }

    static EngineOptions base() {
        return EngineOptions.defaults(2).withKv(KvElementType.F32, 16);
    }

    static GenerationResult run(CpuEngine e, int[] prompt, int maxTokens, String salt) throws Exception {
        return e.submit(new GenerationRequest(prompt, maxTokens, SamplingParams.GREEDY, List.of(), salt), TokenSink.NONE)
                .result().get(120, TimeUnit.SECONDS);
    }

    /** Prompts of different lengths; several share long prefixes (so concurrent ones hit each other's blocks). */
    static List<int[]> prompts(CpuEngine e) {
        int[] story = e.tokenizer().encode(STORY, true, false);
        List<int[]> out = new ArrayList<>();
        out.add(story);
        out.add(Arrays.copyOf(story, 40));
        out.add(Arrays.copyOf(story, 33)); // two full blocks + 1
        out.add(Arrays.copyOf(story, 32)); // exactly two blocks: the last one must be recomputed
        out.add(e.tokenizer().encode("Lily and Tom went to the beach. They", true, false));
        out.add(Arrays.copyOf(story, 7));
        int[] mixed = Arrays.copyOf(story, 60);
        mixed[50] = (mixed[50] + 1) % e.model().vocabSize(); // same first 50 tokens, different tail
        out.add(mixed);
        return out;
    }

    /** Greedy tokens of each prompt on a cold engine with prefix caching off, one request at a time. */
    static List<int[]> reference(String model, int maxTokens) throws Exception {
        try (var cold = engine(model, base().withPrefixCaching(false))) {
            List<int[]> out = new ArrayList<>();
            for (int[] p : prompts(cold)) {
                GenerationResult r = run(cold, p, maxTokens, null);
                assertEquals(0, r.cachedTokens());
                out.add(r.tokens());
            }
            return out;
        }
    }

    static void awaitIdle(CpuEngine e) throws InterruptedException {
        // Results are handed out after the step's stats are published, so this holds at once unless a cancellation is
        // still to be reaped by the loop: then it holds after its next step. Polls a state, no deadline of its own.
        for (EngineStats s = e.stats(); s.scheduler().running() > 0 || s.scheduler().waiting() > 0 || s.pool().referenced() > 0;
             s = e.stats()) {
            Thread.sleep(5);
        }
        EngineStats.PoolStats s = e.stats().pool();
        assertEquals(0, s.referenced(), "no block stays referenced once every request is done: " + s);
        // the pool's own invariants are checked after every step in SchedulerTest and BlockPoolTest
        assertEquals(s.total(), s.cached() + s.free(), "every block is cached or free: " + s);
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories", "synthetic", "qwen2", "qwen3", "phi3"})
    void aCacheHitGivesTheColdTokens(String model) throws Exception {
        List<int[]> expected = reference(model, 30);
        try (var e = engine(model, base())) {
            List<int[]> prompts = prompts(e);
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(expected.get(i), run(e, prompts.get(i), 30, null).tokens(), "first run of prompt " + i);
            }
            for (int i = 0; i < prompts.size(); i++) {
                GenerationResult again = run(e, prompts.get(i), 30, null);
                assertArrayEquals(expected.get(i), again.tokens(), "cached run of prompt " + i);
                int full = (prompts.get(i).length - 1) / 16 * 16;
                assertEquals(full, again.cachedTokens(), "prompt " + i + " of " + prompts.get(i).length
                        + " tokens: every full block but the one holding the last token comes from the cache");
            }
            awaitIdle(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories", "synthetic", "qwen2", "qwen3", "phi3"})
    void concurrentRequestsGiveTheTokensOfOneAtATime(String model) throws Exception {
        List<int[]> expected = reference(model, 40);
        try (var e = engine(model, base().withScheduler(512, 8, 64))) {
            List<int[]> prompts = prompts(e);
            for (int round = 0; round < 2; round++) { // second round: everything hits the cache, still batched
                List<Generation> gens = new ArrayList<>();
                for (int[] p : prompts) gens.add(e.submit(new GenerationRequest(p, 40, SamplingParams.GREEDY), null));
                for (int i = 0; i < gens.size(); i++) {
                    assertArrayEquals(expected.get(i), gens.get(i).result().get(120, TimeUnit.SECONDS).tokens(),
                            "round " + round + ", prompt " + i);
                }
            }
            assertTrue(e.stats().scheduler().steps() > 0);
            awaitIdle(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories", "synthetic", "qwen2", "qwen3", "phi3"})
    void chunkedPrefillGivesTheUnchunkedTokens(String model) throws Exception {
        List<int[]> expected = reference(model, 20);
        // 5 rows a step: prompts are split into many chunks, mixed with other sequences' decode rows
        try (var e = engine(model, base().withScheduler(5, 3, 64).withPrefixCaching(false))) {
            List<Generation> gens = new ArrayList<>();
            for (int[] p : prompts(e)) gens.add(e.submit(new GenerationRequest(p, 20, SamplingParams.GREEDY), null));
            for (int i = 0; i < gens.size(); i++) {
                assertArrayEquals(expected.get(i), gens.get(i).result().get(120, TimeUnit.SECONDS).tokens(), "prompt " + i);
            }
            awaitIdle(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories", "synthetic"})
    void aPoolTooSmallForEveryoneDoesNotChangeTokens(String model) throws Exception {
        List<int[]> expected = reference(model, 40);
        long block;
        try (var probe = engine(model, base().withContextLimit(256))) {
            block = probe.kvLayout().blockBytes();
        }
        // 12 blocks of 16 tokens: the longest request (about 100 prompt + 40 tokens) needs 9 of them
        try (var e = engine(model, base().withContextLimit(256).withPoolBytes(12 * block).withScheduler(64, 8, 64))) {
            assertEquals(12, e.stats().pool().total());
            List<int[]> prompts = prompts(e);
            List<Generation> gens = new ArrayList<>();
            for (int[] p : prompts) gens.add(e.submit(new GenerationRequest(p, 40, SamplingParams.GREEDY), null));
            for (int i = 0; i < gens.size(); i++) {
                assertArrayEquals(expected.get(i), gens.get(i).result().get(120, TimeUnit.SECONDS).tokens(), "prompt " + i);
            }
            assertTrue(e.stats().scheduler().preemptions() > 0, "the pool was small enough to force preemption: " + e.stats());
            awaitIdle(e);
            // a request that could never fit is refused up front, not left waiting forever
            var tooLong = new GenerationRequest(new int[200], 50, SamplingParams.GREEDY);
            var error = assertThrows(IllegalArgumentException.class, () -> e.submit(tooLong, null));
            assertTrue(error.getMessage().contains("KV blocks"), error.getMessage());
        }
    }

    @Test
    void cacheSaltsNeverShareBlocks() throws Exception {
        try (var e = stories(base())) {
            int[] p = e.tokenizer().encode(STORY, true, false);
            int[] expected = run(e, p, 10, "tenant-a").tokens();
            assertEquals(0, run(e, p, 10, "tenant-b").cachedTokens(), "another salt");
            assertEquals(0, run(e, p, 10, null).cachedTokens(), "no salt");
            assertThrows(IllegalArgumentException.class, () -> run(e, p, 10, ""), "an empty salt is refused (1-256 bytes)");
            GenerationResult same = run(e, p, 10, "tenant-a");
            assertTrue(same.cachedTokens() > 0, "same salt hits");
            assertArrayEquals(expected, same.tokens());
            assertTrue(run(e, p, 10, "tenant-b").cachedTokens() > 0, "tenant-b's own blocks are cached for tenant-b");
            awaitIdle(e);
        }
    }

    @Test
    void cancellingFreesTheSequencesBlocks() throws Exception {
        try (var e = stories(base())) {
            int[] p = e.tokenizer().encode(STORY, true, false);
            // the sink holds the engine inside its third step, so the stats published after the second are what we read
            var inThirdStep = new CountDownLatch(1);
            var release = new CountDownLatch(1);
            var tokens = new java.util.concurrent.atomic.AtomicInteger();
            Generation g = e.submit(new GenerationRequest(p, 400, SamplingParams.GREEDY), (t, s) -> {
                if (tokens.incrementAndGet() != 3) return;
                inThirdStep.countDown();
                try {
                    release.await();
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
            });
            inThirdStep.await();
            assertTrue(e.stats().pool().referenced() > 0, "the running sequence holds blocks: " + e.stats());
            g.cancel();
            release.countDown();
            GenerationResult r = g.result().get(30, TimeUnit.SECONDS);
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.completionTokens() < 400);
            awaitIdle(e);
        }
    }

    @Test
    void aFullQueueRefusesAtOnce() throws Exception {
        try (var e = stories(base().withScheduler(16, 1, 2))) {
            int[] p = e.tokenizer().encode(STORY, true, false);
            List<Generation> accepted = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < 10; i++) {
                try {
                    accepted.add(e.submit(new GenerationRequest(p, 200, SamplingParams.GREEDY), null));
                } catch (QueueFullException full) {
                    assertTrue(full.getMessage().contains("max-queue"), full.getMessage());
                    assertEquals(1, full.retryAfterSeconds());
                    refused++;
                }
            }
            assertTrue(refused >= 7, refused + " of 10 refused with one running and two waiting allowed");
            for (Generation g : accepted) g.cancel();
            for (Generation g : accepted) g.result().get(30, TimeUnit.SECONDS);
            awaitIdle(e);
        }
    }

    /**
     * KV element types against f32 at the level users see: the last position's logits after the
     * story prompt, on stories260K. f16 must stay within 0.02 of f32; q8's deviation is measured
     * and bounded loosely (README quotes these numbers).
     */
    @Test
    void kvElementTypesStayCloseToF32() {
        float[] f32 = promptLogits(KvElementType.F32);
        float[] f16 = promptLogits(KvElementType.F16);
        float[] q8 = promptLogits(KvElementType.Q8);
        float range = 0;
        for (float v : f32) range = Math.max(range, Math.abs(v));
        float d16 = maxDiff(f32, f16), d8 = maxDiff(f32, q8);
        System.out.printf("KV type deviation on stories260K logits (max |x| %.2f): f16 %.5f, q8 %.5f%n", range, d16, d8);
        assertTrue(d16 < 0.02f, "f16 KV moved a logit by " + d16);
        assertTrue(d8 < 0.5f, "q8 KV moved a logit by " + d8);
        assertEquals(Sampler.argmax(f32, f32.length), Sampler.argmax(f16, f16.length));
    }

    private static float maxDiff(float[] a, float[] b) {
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    private static float[] promptLogits(KvElementType type) {
        Path bin = SharedModels.file("stories260K.bin");
        try (var checkpoint = dev.kvfn.model.Llama2cCheckpoint.open(bin); var workers = new dev.kvfn.engine.cpu.kernel.WorkerPool(2)) {
            LlamaConfig config = LlamaConfig.fromLlama2c(checkpoint.header());
            LlamaWeights weights = LlamaWeights.load(config, checkpoint.tensors(), bin, workers);
            int[] prompt = dev.kvfn.tokenizer.Llama2cTokenizer.load(SharedModels.file("tok512.bin")).encode(STORY, true, false);
            var layout = new KvLayout(config.layers(), config.kvHeads(), config.headSize(), 16, type);
            var pool = new dev.kvfn.kv.BlockPool(64);
            try (var memory = new dev.kvfn.kv.BlockMemory(layout, 64)) {
                var table = new dev.kvfn.kv.BlockTable(pool, 16, config.contextLength());
                for (int i = 0; i < (prompt.length + 15) / 16; i++) table.append(pool.allocate());
                return Prefill.forward(new Transformer(config, weights, workers, 512), prompt, 0, prompt.length, 0,
                        new PagedKv(memory, table));
            }
        }
    }
}
