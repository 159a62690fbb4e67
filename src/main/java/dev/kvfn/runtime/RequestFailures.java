package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/**
 * Counts a request that failed outside the engine (an HTTP 500 from the API layer) in the same
 * {@code kvfn_request_failures_total} series the engine's failed generations go to, so an alert on that one
 * series sees every 500. Micrometer hands back the meter {@link ServingEngine} registered under the same id.
 */
@ApplicationScoped
public class RequestFailures {

    @Inject
    MeterRegistry registry;

    @Inject
    Engine engine;

    public void count() {
        Counter.builder("kvfn.request.failures").tag("model", engine.model().name())
                .description("generations that failed").register(registry).increment();
    }
}
