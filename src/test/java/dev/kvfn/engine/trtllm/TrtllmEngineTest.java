package dev.kvfn.engine.trtllm;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * TrtllmEngine through the real JavaCPP-generated JNI against the test double of TensorRT-LLM (fake_trtllm.cpp):
 * streaming, concurrency, cancellation, native errors, the executor's full queue, KV events into kvfn's index, the warm
 * restart, and native objects counted back to zero. Every wait is on a result, a permit or a published state; the
 * timeouts only guard against a hang.
 */
@Timeout(300)
class TrtllmEngineTest {
    static final int CONTEXT = 1024;
    static Tokenizer tokenizer;

    @BeforeAll
    static void vocabulary() throws Exception {
        GgufFile gguf = GgufFile.open(SyntheticModel.tinyTempFile()); // kept open for the class: the tokenizer reads it
        tokenizer = Tokenizers.fromGguf(gguf);
        for (int t = FakeTrtllm.VOCAB_LO; t < FakeTrtllm.VOCAB_HI; t++) {
            assertFalse(tokenizer.isEndOfGeneration(t), "the fake must not end generation by itself: token " + t);
        }
    }

    static TrtllmEngine engine(String options, int maxBatch, int maxQueue, KvTiers tiers, BlockHasher hasher, int prewarmBlocks) {
        var executor = TrtllmExecutor.create(new TrtllmExecutor.Settings(FakeTrtllm.engineDir(options), maxBatch, 0, maxQueue,
                TrtllmNative.SCHED_GUARANTEED_NO_EVICT, true, 0, 0.9f, 0, true, 4096));
        var model = new ModelInfo("fake", "fake", "trtllm", CONTEXT, tokenizer.vocabSize(), null);
        return new TrtllmEngine(executor, tokenizer, model, new TrtllmEngine.Options(CONTEXT, prewarmBlocks, 90), tiers, hasher);
    }

    static TrtllmEngine engine(String options) {
        return engine(options, 8, 0, null, null, 0);
    }

    static int[] prompt(int seed, int length) {
        return IntStream.range(0, length).map(i -> 3 + (seed * 31 + i * 7) % 250).toArray();
    }

    /** Collects what a sink received. */
    static class Collect implements TokenSink {
        final List<Integer> tokens = new CopyOnWriteArrayList<>();
        final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void onToken(int token, String piece) {
            tokens.add(token);
            text.append(piece);
        }
    }

    @Test
    void streamsEachTokenInOrderAndTheResultAgrees() {
        try (var engine = engine("")) {
            int[] p = prompt(1, 5);
            var sink = new Collect();
            GenerationResult r = engine.submit(new GenerationRequest(p, 20, SamplingParams.GREEDY), sink).result().join();
            int[] expected = FakeTrtllm.expected(p, 20);
            assertArrayEquals(expected, r.tokens(), "tokens cross the binding intact, in order");
            assertArrayEquals(expected, sink.tokens.stream().mapToInt(Integer::intValue).toArray(), "streamed one by one, in order");
            assertEquals(FinishReason.LENGTH, r.finishReason());
            assertEquals(tokenizer.decode(expected), r.text());
            assertEquals(r.text(), sink.text.toString(), "the streamed pieces make the result's text");
            assertEquals(5, r.promptTokens());
        }
    }

    @Test
    void aStopStringEndsTheTextAndTheNativeRequest() {
        try (var engine = engine("")) {
            int[] p = prompt(2, 6);
            String full = tokenizer.decode(FakeTrtllm.expected(p, 40));
            String stop = full.substring(10, 13);
            var sink = new Collect();
            GenerationResult r = engine.submit(new GenerationRequest(p, 40, SamplingParams.GREEDY, List.of(stop), null), sink)
                    .result().join();
            assertEquals(FinishReason.STOP, r.finishReason());
            assertEquals(full.substring(0, full.indexOf(stop)), r.text(), "the text ends before the stop string");
            assertEquals(r.text(), sink.text.toString());
            assertTrue(r.tokens().length < 40, "the executor was told to stop");
            assertEquals(0, engine.inFlight());
        }
    }

    @Test
    void concurrentRequestsEachGetTheirOwnTokens() throws Exception {
        try (var engine = engine("", 8, 0, null, null, 0)) {
            List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                int[] p = prompt(100 + i, 3 + i % 7);
                prompts.add(p);
                var f = new CompletableFuture<GenerationResult>();
                results.add(f);
                threads.add(Thread.ofVirtual().start(() -> engine.submit(new GenerationRequest(p, 25, SamplingParams.GREEDY), TokenSink.NONE)
                        .result().whenComplete((r, e) -> {
                            if (e != null) f.completeExceptionally(e);
                            else f.complete(r);
                        })));
            }
            for (Thread t : threads) t.join();
            for (int i = 0; i < 32; i++) assertArrayEquals(FakeTrtllm.expected(prompts.get(i), 25), results.get(i).join().tokens(), "request " + i);
            assertEquals(0, engine.inFlight());
        }
    }

    @Test
    void cancellingMidStreamFreesTheNativeRequest() {
        try (var engine = engine("backlog=4")) {
            AtomicReference<Generation> self = new AtomicReference<>();
            var sink = new Collect() {
                @Override
                public synchronized void onToken(int token, String piece) {
                    super.onToken(token, piece);
                    if (tokens.size() >= 5 && self.get() != null) self.get().cancel();
                }
            };
            int[] p = prompt(3, 8);
            Generation g = engine.submit(new GenerationRequest(p, 900, SamplingParams.GREEDY), sink);
            self.set(g);
            GenerationResult r = g.result().join();
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.tokens().length >= 5 && r.tokens().length < 900, "stopped mid-stream: " + r.tokens().length);
            int[] expected = FakeTrtllm.expected(p, r.tokens().length);
            assertArrayEquals(expected, r.tokens());
            assertEquals(0, engine.inFlight());
            assertEquals(0, FakeTrtllm.liveRequests(), "the executor freed the request before its final response");
        }
    }

    @Test
    void aNativeErrorFailsItsRequestWithTheNativeMessageAndTheEngineGoesOn() {
        try (var engine = engine("error_token=7")) {
            int[] poisoned = {5, 6, 7, 8};
            var e = assertThrows(CompletionException.class,
                    () -> engine.submit(new GenerationRequest(poisoned, 5, SamplingParams.GREEDY), TokenSink.NONE).result().join());
            assertInstanceOf(GenerationFailedException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("prompt token 7 is poisoned"), e.getCause().getMessage());
            int[] p = prompt(4, 4);
            assertArrayEquals(FakeTrtllm.expected(p, 5), engine.submit(new GenerationRequest(p, 5, SamplingParams.GREEDY), TokenSink.NONE)
                    .result().join().tokens());
            assertEquals(0, FakeTrtllm.liveRequests());
        }
    }

    @Test
    void badRequestsAreRefusedBeforeTheExecutor() {
        try (var engine = engine("")) {
            assertThrows(IllegalArgumentException.class,
                    () -> engine.submit(new GenerationRequest(new int[]{1, tokenizer.vocabSize()}, 5, SamplingParams.GREEDY), TokenSink.NONE));
            assertThrows(IllegalArgumentException.class,
                    () -> engine.submit(new GenerationRequest(new int[CONTEXT], 5, SamplingParams.GREEDY), TokenSink.NONE));
            // a constraint the GPU sampler cannot apply is refused, never ignored
            var constrained = new GenerationRequest(new int[]{1, 2}, 5, SamplingParams.GREEDY)
                    .withConstraint(dev.kvfn.engine.structured.StructuredOutput.jsonObject(tokenizer));
            var e = assertThrows(IllegalArgumentException.class, () -> engine.submit(constrained, TokenSink.NONE));
            assertTrue(e.getMessage().contains("structured output"), e.getMessage());
        }
    }

    @Test
    void aFullExecutorQueueIsAQueueFullException() throws Exception {
        try (var engine = engine("hold_token=9,release_token=8", 1, 1, null, null, 0)) {
            int[] held = {4, 9, 5};
            Generation a = engine.submit(new GenerationRequest(held, 5, SamplingParams.GREEDY), TokenSink.NONE);
            while (engine.stats().scheduler().running() < 1) Thread.sleep(1); // a holds the one batch slot
            Generation b = engine.submit(new GenerationRequest(held, 5, SamplingParams.GREEDY), TokenSink.NONE); // waits in the queue
            var full = assertThrows(QueueFullException.class,
                    () -> engine.submit(new GenerationRequest(prompt(5, 3), 5, SamplingParams.GREEDY), TokenSink.NONE));
            assertTrue(full.getMessage().contains("queue"), full.getMessage());
            // refused too (the queue is still full), and it releases the held requests on its way
            assertThrows(QueueFullException.class,
                    () -> engine.submit(new GenerationRequest(new int[]{4, 8}, 5, SamplingParams.GREEDY), TokenSink.NONE));
            assertEquals(FinishReason.LENGTH, a.result().join().finishReason());
            assertEquals(FinishReason.LENGTH, b.result().join().finishReason());
            assertEquals(0, FakeTrtllm.liveRequests());
        }
    }

    @Test
    void kvEventsBecomeTheKeysTheCpuEngineComputesForTheSameTokensAndSalt() throws Exception {
        int[] p = prompt(6, 64);
        String salt = "tenant-a";
        var cpuIndex = new IndexTier();
        BlockFormat cpuFormat;
        String cpuKeys; // the layout text the CPU engine's keys bind (its KV layout and its kernels' numerics)
        byte[] fingerprint;
        try (CpuEngine cpu = CpuEngine.load(SyntheticModel.tinyTempFile(), null, EngineOptions.defaults(1).withRemote(cpuIndex))) {
            cpuFormat = cpu.kvLayout().format();
            cpuKeys = cpu.keyLayoutId();
            fingerprint = cpu.fingerprint().digest();
            cpu.submit(new GenerationRequest(p, 1, SamplingParams.GREEDY, List.of(), salt), TokenSink.NONE).result().join();
            cpuIndex.published.acquire(4); // the prompt's four 16-token blocks
        }
        var trtIndex = new IndexTier();
        // the engine's own blocks hold 32 tokens: each event becomes two kvfn blocks
        var format = new BlockFormat(cpuFormat.layoutId(), cpuFormat.blockTokens(), 0);
        var tiers = KvTiers.open(format, fingerprint, "test", null, trtIndex, 0);
        try (var engine = engine("block=32", 8, 0, tiers, new BlockHasher(fingerprint, cpuKeys), 0)) {
            engine.submit(new GenerationRequest(p, 1, SamplingParams.GREEDY, List.of(), salt), TokenSink.NONE).result().join();
            trtIndex.published.acquire(4);
            List<IndexTier.Entry> cpuEntries = cpuIndex.inOrder().subList(0, 4), trtEntries = trtIndex.inOrder().subList(0, 4);
            for (int i = 0; i < 4; i++) {
                assertEquals(cpuEntries.get(i).key(), trtEntries.get(i).key(), "block " + i);
                assertEquals(cpuEntries.get(i).parent(), trtEntries.get(i).parent(), "parent of block " + i);
                assertArrayEquals(java.util.Arrays.copyOfRange(p, i * 16, i * 16 + 16), trtEntries.get(i).tokens());
                assertTrue(trtEntries.get(i).salted());
            }
            // the same tokens without the salt are another chain
            assertNotEquals(new BlockHasher(fingerprint, cpuKeys).key(null, null, p, 0, 16), trtEntries.get(0).key());
        }
    }

    @Test
    void aWarmStartReprefillsTheIndexsHotPrefixesBeforeItIsReady() throws Exception {
        var index = new IndexTier();
        byte[] fingerprint = new byte[32];
        fingerprint[0] = 42;
        var format = new BlockFormat(TrtllmEngineFactory.layoutId(16), 16, 0);
        int[] p1 = prompt(7, 48), p2 = prompt(8, 48);
        try (var first = engine("block=16", 8, 0, KvTiers.open(format, fingerprint, "t", null, index, 0),
                new BlockHasher(fingerprint, format.layoutId()), 0)) {
            first.submit(new GenerationRequest(p1, 1, SamplingParams.GREEDY), TokenSink.NONE).result().join();
            first.submit(new GenerationRequest(p2, 1, SamplingParams.GREEDY), TokenSink.NONE).result().join();
            index.published.acquire(6); // three full blocks each
        }
        try (var cold = engine("block=16")) {
            assertEquals(0, cold.submit(new GenerationRequest(p1, 1, SamplingParams.GREEDY), TokenSink.NONE).result().join().cachedTokens(),
                    "a fresh executor holds nothing");
        }
        long before = FakeTrtllm.prioritizedRequests();
        try (var warm = engine("block=16", 8, 0, KvTiers.open(format, fingerprint, "t", null, index, 0),
                new BlockHasher(fingerprint, format.layoutId()), 64)) {
            // the constructor returned: both chains were re-prefilled, with a retention priority
            assertEquals(2, FakeTrtllm.prioritizedRequests() - before);
            GenerationResult r = warm.submit(new GenerationRequest(p1, 3, SamplingParams.GREEDY), TokenSink.NONE).result().join();
            assertEquals(32, r.cachedTokens(), "the prompt's first two blocks were already on the engine");
            assertArrayEquals(FakeTrtllm.expected(p1, 3), r.tokens());
        }
    }

    @Test
    void tenThousandRequestsLeaveNoNativeObjectBehind() {
        long handles = FakeTrtllm.liveHandles();
        try (var engine = engine("error_token=255", 16, 0, null, null, 0)) {
            assertEquals(handles + 1, FakeTrtllm.liveHandles());
            int failed = 0, cancelled = 0;
            for (int window = 0; window < 100; window++) {
                List<Generation> gs = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    int n = window * 100 + i;
                    int[] p = n % 50 == 0 ? new int[]{3, 255, 4} : prompt(n, 2 + n % 5);
                    Generation g = engine.submit(new GenerationRequest(p, 3, SamplingParams.GREEDY), TokenSink.NONE);
                    if (n % 10 == 1) g.cancel();
                    gs.add(g);
                }
                for (Generation g : gs) {
                    try {
                        if (g.result().join().finishReason() == FinishReason.CANCELLED) cancelled++;
                    } catch (CompletionException e) {
                        assertInstanceOf(GenerationFailedException.class, e.getCause());
                        failed++;
                    }
                }
            }
            assertEquals(200, failed, "every 50th request was poisoned");
            assertTrue(cancelled > 0, "some cancels reached the executor before the request finished");
            assertEquals(0, engine.inFlight());
            assertEquals(0, FakeTrtllm.liveRequests(), "no request left in the executor");
            assertTrue(engine.stats().scheduler().steps() > 0);
            assertEquals(16, engine.stats().pool().blockTokens());
        }
        assertEquals(handles, FakeTrtllm.liveHandles(), "the executor handle was destroyed");
    }
}
