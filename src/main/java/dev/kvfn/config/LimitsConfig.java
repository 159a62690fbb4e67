package dev.kvfn.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** Request limits, checked before a request reaches the engine. */
@ConfigMapping(prefix = "kvfn.limits")
public interface LimitsConfig {

    /** Largest accepted {@code maxTokens}; the model's context length caps it further. */
    @WithDefault("4096")
    int maxTokens();

    /** {@code maxTokens} when a request gives none (capped by the room left in the context). */
    @WithDefault("64")
    int defaultMaxTokens();

    /** Requests running or waiting at once; one more is answered 429 with Retry-After. */
    @WithDefault("64")
    int maxRequests();

    /** A request still running after this long is cancelled (its completion so far is returned, finish "cancelled"). */
    @WithDefault("10m")
    java.time.Duration requestTimeout();

    /** Largest accepted prompt, in characters (a cheap guard before tokenizing). */
    @WithDefault("1000000")
    int maxPromptChars();
}
