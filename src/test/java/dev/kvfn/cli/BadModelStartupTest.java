package dev.kvfn.cli;

import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.junit.main.Launch;
import io.quarkus.test.junit.main.LaunchResult;
import io.quarkus.test.junit.main.QuarkusMainTest;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model path that does not exist stops start-up with one line naming the file. */
@QuarkusMainTest
@TestProfile(BadModelStartupTest.MissingModel.class)
class BadModelStartupTest {
    static final String MISSING = "/nonexistent/kvfn/model.gguf";

    public static class MissingModel implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.model.path", MISSING);
        }
    }

    @Test
    @Launch(value = {"generate", "--prompt", "hi"}, exitCode = 1)
    void startupFailsNamingTheFile(LaunchResult result) {
        String err = result.getErrorOutput();
        assertTrue(err.contains("kvfn cannot start: " + MISSING + ": no such file"), err);
        assertEquals(1, err.lines().filter(l -> l.contains(MISSING)).count(), err);
        assertTrue(err.lines().noneMatch(l -> l.startsWith("\tat ")), "no stack trace expected:\n" + err);
    }
}
