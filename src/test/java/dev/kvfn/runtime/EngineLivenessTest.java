package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.tokenizer.Tokenizer;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Liveness follows {@link Engine#failure()}: UP while the engine can serve, DOWN with the reason once it stopped. */
class EngineLivenessTest {

    static Engine withFailure(String failure) {
        return new Engine() {
            @Override public ModelInfo model() { return new ModelInfo("m", "test", "llama", 16, 8, null); }
            @Override public Tokenizer tokenizer() { throw new UnsupportedOperationException(); }
            @Override public Generation submit(GenerationRequest request, TokenSink sink) { throw new UnsupportedOperationException(); }
            @Override public String failure() { return failure; }
            @Override public void close() {}
        };
    }

    @Test
    void upWhileTheEngineServesDownWithTheReasonOnceItStopped() {
        var check = new EngineLiveness();
        check.engine = withFailure(null);
        assertEquals(HealthCheckResponse.Status.UP, check.call().getStatus());
        check.engine = withFailure("the engine stopped after 3 failed steps in a row");
        HealthCheckResponse down = check.call();
        assertEquals(HealthCheckResponse.Status.DOWN, down.getStatus());
        assertEquals("the engine stopped after 3 failed steps in a row", down.getData().orElseThrow().get("reason"));
    }
}
