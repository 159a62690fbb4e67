package dev.kvfn.engine.cpu;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Request handling of the engine on stories260K: stop strings, limits, cancellation, streaming. */
class CpuEngineTest {
    /** The greedy completion of the reference prompt starts like this (see ReferenceOutputTest). */
    private static final String CONTINUATION = ", there was a little girl named Lily. She loved to play outside in the park.";
    private static CpuEngine engine;
    private static int[] prompt;

    @BeforeAll
    static void load() {
        engine = CpuEngine.load(SharedModels.file("stories260K.bin"), SharedModels.file("tok512.bin"), 1);
        prompt = engine.tokenizer().encode("Once upon a time", true, false);
    }

    @AfterAll
    static void close() {
        if (engine != null) engine.close();
    }

    /** A sink that records what was streamed. */
    private static class Recorder implements TokenSink {
        final List<Integer> tokens = new ArrayList<>();
        final StringBuilder text = new StringBuilder();

        @Override
        public void onToken(int token, String piece) {
            tokens.add(token);
            text.append(piece);
        }
    }

    private static GenerationResult run(GenerationRequest request, TokenSink sink) throws Exception {
        return engine.submit(request, sink).result().get(60, TimeUnit.SECONDS);
    }

    @Test
    void streamedTextAndTokensMatchTheResult() throws Exception {
        var sink = new Recorder();
        GenerationResult r = run(new GenerationRequest(prompt, 20, SamplingParams.GREEDY), sink);
        assertEquals(20, r.completionTokens());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(r.text(), sink.text.toString());
        assertArrayEquals(r.tokens(), sink.tokens.stream().mapToInt(Integer::intValue).toArray());
        assertEquals(engine.tokenizer().decode(r.tokens()), r.text());
        assertTrue(CONTINUATION.startsWith(r.text()), r.text());
        assertEquals(prompt.length, r.promptTokens());
        assertEquals(0, r.cachedTokens());
        assertTrue(r.ttftNanos() > 0 && r.decodeNanos() > 0);
    }

    @Test
    void stopStringSplitAcrossTokensEndsTheCompletionBeforeIt() throws Exception {
        // " girl" and " named" are separate tokens, so "girl named" spans two of them
        var sink = new Recorder();
        var request = new GenerationRequest(prompt, 50, SamplingParams.GREEDY, List.of("girl named"), null);
        GenerationResult r = run(request, sink);
        assertEquals(FinishReason.STOP, r.finishReason());
        assertEquals(", there was a little ", r.text());
        assertEquals(r.text(), sink.text.toString());
        // the token that completed the stop string is the last one generated
        assertEquals(" named", engine.tokenizer().decode(new int[] {r.tokens()[r.tokens().length - 1]}));
    }

    @Test
    void textThatOnlyStartsLikeAStopStringIsReleased() throws Exception {
        var request = new GenerationRequest(prompt, 12, SamplingParams.GREEDY, List.of("little boy"), null);
        var sink = new Recorder();
        GenerationResult r = run(request, sink);
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertTrue(r.text().contains("little girl"), r.text());
        assertEquals(r.text(), sink.text.toString());
    }

    @Test
    void maxTokensAndTheContextLimitEndWithLength() throws Exception {
        GenerationResult one = run(new GenerationRequest(prompt, 1, SamplingParams.GREEDY), null);
        assertEquals(1, one.completionTokens());
        assertEquals(FinishReason.LENGTH, one.finishReason());
        try (var small = CpuEngine.load(SharedModels.file("stories260K.bin"), SharedModels.file("tok512.bin"), EngineOptions.defaults(1).withContextLimit(16))) {
            assertEquals(16, small.model().contextLength());
            var r = small.submit(new GenerationRequest(prompt, 100, SamplingParams.GREEDY), null).result().get(60, TimeUnit.SECONDS);
            assertEquals(FinishReason.LENGTH, r.finishReason());
            assertEquals(16 - prompt.length, r.completionTokens());
            var e = assertThrows(IllegalArgumentException.class,
                    () -> small.submit(new GenerationRequest(new int[16], 1, SamplingParams.GREEDY), null));
            assertTrue(e.getMessage().contains("prompt has 16 tokens"), e.getMessage());
        }
    }

    @Test
    void cancelStopsARunningRequest() throws Exception {
        var handle = new AtomicReference<Generation>();
        var ready = new CountDownLatch(1);
        var sink = new Recorder() {
            @Override
            public void onToken(int token, String piece) {
                super.onToken(token, piece);
                if (tokens.size() == 3) {
                    try {
                        ready.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    handle.get().cancel();
                }
            }
        };
        Generation g = engine.submit(new GenerationRequest(prompt, 200, SamplingParams.GREEDY), sink);
        handle.set(g);
        ready.countDown();
        GenerationResult r = g.result().get(60, TimeUnit.SECONDS);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertEquals(3, r.completionTokens());
    }

    @Test
    void cancelWhileQueuedNeverRuns() throws Exception {
        var release = new CountDownLatch(1);
        TokenSink blocking = (token, piece) -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        };
        Generation first = engine.submit(new GenerationRequest(prompt, 2, SamplingParams.GREEDY), blocking);
        var queuedSink = new Recorder();
        Generation second = engine.submit(new GenerationRequest(prompt, 5, SamplingParams.GREEDY), queuedSink);
        second.cancel();
        release.countDown();
        assertEquals(FinishReason.LENGTH, first.result().get(60, TimeUnit.SECONDS).finishReason());
        GenerationResult r = second.result().get(60, TimeUnit.SECONDS);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertEquals(0, r.completionTokens());
        assertTrue(queuedSink.tokens.isEmpty());
    }

    @Test
    void seededSamplingIsReproducibleAcrossRequests() throws Exception {
        var p = new SamplingParams(1.0f, 40, 0.95f, 0.05f, 1234);
        GenerationResult a = run(new GenerationRequest(prompt, 30, p), null);
        GenerationResult b = run(new GenerationRequest(prompt, 30, p), null);
        assertArrayEquals(a.tokens(), b.tokens());
        GenerationResult c = run(new GenerationRequest(prompt, 30, new SamplingParams(1.0f, 40, 0.95f, 0.05f, 99)), null);
        assertTrue(!java.util.Arrays.equals(a.tokens(), c.tokens()), "another seed should change the story");
    }

    @Test
    void aFailingSinkFailsOnlyItsRequest() throws Exception {
        Generation bad = engine.submit(new GenerationRequest(prompt, 5, SamplingParams.GREEDY), (t, s) -> {
            throw new IllegalStateException("client gone");
        });
        var e = assertThrows(ExecutionException.class, () -> bad.result().get(60, TimeUnit.SECONDS));
        assertEquals("client gone", e.getCause().getMessage());
        assertEquals(5, run(new GenerationRequest(prompt, 5, SamplingParams.GREEDY), null).completionTokens());
    }

    @Test
    void badRequestsAreRefusedAtSubmit() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> engine.submit(new GenerationRequest(new int[] {1, 9999}, 5, SamplingParams.GREEDY), null));
        assertTrue(e.getMessage().contains("9999"), e.getMessage());
        var tooLong = assertThrows(IllegalArgumentException.class,
                () -> engine.submit(new GenerationRequest(new int[600], 5, SamplingParams.GREEDY), null));
        assertTrue(tooLong.getMessage().contains("context holds 512"), tooLong.getMessage());
    }

    @Test
    void llama2cCheckpointWithoutTokenizerIsRefused() {
        Path bin = SharedModels.file("stories260K.bin");
        var e = assertThrows(IllegalArgumentException.class, () -> CpuEngine.load(bin, null, 1));
        assertTrue(e.getMessage().contains(bin.toString()) && e.getMessage().contains("tokenizer"), e.getMessage());
    }

    @Test
    void closedEngineRefusesWork() {
        var other = CpuEngine.load(SharedModels.file("stories260K.bin"), SharedModels.file("tok512.bin"), 1);
        other.close();
        assertThrows(IllegalStateException.class,
                () -> other.submit(new GenerationRequest(prompt, 5, SamplingParams.GREEDY), null));
    }
}
