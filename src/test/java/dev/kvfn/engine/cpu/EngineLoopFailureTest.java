package dev.kvfn.engine.cpu;

import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static dev.kvfn.engine.cpu.PagedEngineTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's loop never dies silently: a step that throws fails the requests it was computing and
 * the loop goes on; failures it cannot survive stop the engine visibly (requests refused, {@code failure()} set).
 */
class EngineLoopFailureTest {

    /** A sink that throws {@code error} at its first token, inside the engine's step. */
    static TokenSink throwing(Error error) {
        return (token, text) -> {
            throw error;
        };
    }

    static GenerationRequest request(int[] prompt, int maxTokens) {
        return new GenerationRequest(prompt, maxTokens, SamplingParams.GREEDY, List.of(), null);
    }

    @Test
    void aStepThatThrowsFailsItsRequestAndLaterRequestsAreServed() throws Exception {
        try (var e = PagedEngineTest.stories(PagedEngineTest.base())) {
            int[] prompt = e.tokenizer().encode("Lily and Tom went to the beach. They", true, false);
            int[] expected = run(e, prompt, 12, null).tokens();
            var boom = new InternalError("a fault in the step (test)");
            var failed = e.submit(request(prompt, 12), throwing(boom));
            var thrown = assertThrows(ExecutionException.class, () -> failed.result().get(120, TimeUnit.SECONDS));
            var cause = assertInstanceOf(GenerationFailedException.class, thrown.getCause());
            assertSame(boom, cause.getCause());
            assertTrue(cause.getMessage().contains("a fault in the step"), cause.getMessage());
            assertNull(e.failure(), "one failed step is survived");
            // the loop goes on: the same prompt (its blocks cached by the failed step) and a new one give the cold tokens
            assertArrayEquals(expected, run(e, prompt, 12, null).tokens());
            int[] other = e.tokenizer().encode("Once upon a time, there was a cat", true, false);
            assertArrayEquals(TieredEngineTest.cold(other, 8), run(e, other, 8, null).tokens());
            PagedEngineTest.awaitIdle(e); // the failed request's blocks went back to the pool
        }
    }

    @Test
    void errorsInEveryStepStopTheEngineVisiblyInsteadOfHanging() throws Exception {
        try (var e = PagedEngineTest.stories(PagedEngineTest.base())) {
            int[] prompt = e.tokenizer().encode("Lily and Tom went to the beach. They", true, false);
            for (int i = 0; i < CpuEngine.MAX_ERRORS; i++) {
                var g = e.submit(request(prompt, 4), throwing(new OutOfMemoryError("test " + i)));
                assertThrows(ExecutionException.class, () -> g.result().get(120, TimeUnit.SECONDS));
            }
            String failure = e.failure();
            assertNotNull(failure, "three Errors in a row: the engine is dead");
            assertTrue(failure.contains("OutOfMemoryError"), failure);
            var refused = assertThrows(EngineUnavailableException.class, () -> e.submit(request(prompt, 4), TokenSink.NONE));
            assertTrue(refused.getMessage().contains("restarted"), refused.getMessage());
        }
    }
}
