package dev.kvfn.engine.cpu;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the read-only model folder the pom passes as {@code kvfn.shared.models}; skips tests when absent. */
final class SharedModels {
    private SharedModels() {}

    static Path file(String name) {
        String dir = System.getProperty("kvfn.shared.models");
        Assumptions.assumeTrue(dir != null, "system property kvfn.shared.models is not set: model tests skipped");
        Path p = Path.of(dir).resolve(name);
        Assumptions.assumeTrue(Files.isRegularFile(p), p + " is absent: model tests skipped");
        return p;
    }
}
