package dev.kvfn.engine;

import java.util.concurrent.CompletableFuture;

/** A submitted request: its result when done, and a way to stop it early. */
public interface Generation {
    CompletableFuture<GenerationResult> result();

    /** Asks the engine to stop this request at its next step; the result then finishes CANCELLED. */
    void cancel();
}
