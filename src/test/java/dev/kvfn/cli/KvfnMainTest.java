package dev.kvfn.cli;

import io.quarkus.test.junit.main.Launch;
import io.quarkus.test.junit.main.LaunchResult;
import io.quarkus.test.junit.main.QuarkusMainLauncher;
import io.quarkus.test.junit.main.QuarkusMainTest;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The packaged app's one-shot commands. */
@QuarkusMainTest
class KvfnMainTest {

    @Test
    @Launch(value = {"generate", "--prompt", "Hello", "--max-tokens", "5"})
    void generatePrintsTheCompletion(LaunchResult result) {
        assertEquals(0, result.exitCode());
        assertTrue(result.getErrorOutput().contains("5 completion tokens"), result.getErrorOutput());
    }

    @Test
    void badCommandLinesExitWithStatus2(QuarkusMainLauncher launcher) {
        for (String[] args : new String[][] {
                {"generate"},
                {"generate", "--prompt", "hi", "--max-tokens", "lots"},
                {"generate", "--prompt", "hi", "--bogus", "1"},
                {"generate", "--prompt", "hi", "--max-tokens", "-3"},
                {"frobnicate"}}) {
            LaunchResult r = launcher.launch(args);
            assertEquals(2, r.exitCode(), String.join(" ", args) + " -> " + r.getErrorOutput());
            assertTrue(r.getErrorOutput().contains("usage: kvfn"), r.getErrorOutput());
        }
    }

    @Test
    void synthWritesAModelAndRejectsBadArguments() throws Exception {
        Path dir = Files.createTempDirectory("kvfn-synth");
        Path out = dir.resolve("t.gguf");
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int status = KvfnMain.synth(new String[] {"synth", "--shape", "tiny", "--type", "Q8_0", "--out", out.toString()},
                new PrintStream(o), new PrintStream(e));
        assertEquals(0, status, e.toString());
        assertTrue(Files.size(out) > 0);
        assertEquals(2, KvfnMain.synth(new String[] {"synth", "--shape", "huge", "--type", "Q8_0", "--out", out.toString()},
                new PrintStream(o), new PrintStream(e)));
        assertEquals(2, KvfnMain.synth(new String[] {"synth", "--shape", "tiny", "--type", "Q3_X", "--out", out.toString()},
                new PrintStream(o), new PrintStream(e)));
        assertFalse(e.toString().isEmpty());
        Files.deleteIfExists(out);
        Files.deleteIfExists(dir);
    }
}
