package dev.kvfn.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** The engine's continuous-batching scheduler. */
@ConfigMapping(prefix = "kvfn.scheduler")
public interface SchedulerConfig {

    /** Token rows per forward step: prompt chunks plus one row per decoding sequence (chunked prefill budget). */
    @WithDefault("512")
    int maxStepTokens();

    /** Sequences running at once (at most max-step-tokens). */
    @WithDefault("16")
    int maxSeqs();

    // No queue limit of its own: kvfn.limits.max-requests bounds running plus waiting requests, one limit for every engine.
}
