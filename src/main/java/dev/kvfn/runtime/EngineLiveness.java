package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

/**
 * DOWN once the engine has stopped for good ({@link Engine#failure()}): its loop failed in a way it
 * cannot survive, so the platform should restart the replica. A failed request alone never flips it.
 */
@Liveness
@ApplicationScoped
public class EngineLiveness implements HealthCheck {

    @Inject
    Engine engine;

    @Override
    public HealthCheckResponse call() {
        String failure = engine.failure();
        var response = HealthCheckResponse.named("kvfn-engine-loop");
        return failure == null ? response.up().build() : response.down().withData("reason", failure).build();
    }
}
