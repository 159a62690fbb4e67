package dev.kvfn.function;

import io.restassured.specification.RequestSpecification;
import org.eclipse.microprofile.config.ConfigProvider;

import static io.restassured.RestAssured.given;

/** Test only: requests to the management interface (health, metrics, the cache report), on its own port. */
public final class Management {
    private Management() {}

    /** The port it listens on (a free one in tests: Quarkus publishes the one it got). */
    public static int port() {
        return ConfigProvider.getConfig().getValue("quarkus.management.test-port", Integer.class);
    }

    public static RequestSpecification request() {
        return given().port(port());
    }
}
