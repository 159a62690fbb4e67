package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.kv.tier.HostStoreOptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Warm restart across real processes: process A (a separate JVM) computes a prompt with a host
 * store and stops — cleanly, or by SIGKILL right after its blocks were spilled — then an engine in
 * this JVM (process B) opens the same store: the prompt comes back with cachedTokens > 0 and
 * exactly A's greedy tokens.
 */
class RestartProcessTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"exit", "hang"})
    void processBRestoresWhatProcessAComputed(String howAStops) throws Exception {
        long storeBytes = 8L << 20;
        Process a = startWriter(storeBytes, howAStops);
        int[] tokensOfA;
        List<String> output = new ArrayList<>();
        try {
            tokensOfA = tokensOf(a, output);
            if (howAStops.equals("hang")) {
                a.destroyForcibly(); // SIGKILL: no close(), no shutdown hooks, no flush
                assertTrue(a.waitFor(30, TimeUnit.SECONDS));
                assertEquals(137, a.exitValue(), "killed by SIGKILL");
            } else {
                assertTrue(a.waitFor(60, TimeUnit.SECONDS));
                assertEquals(0, a.exitValue(), String.join("\n", output));
            }
        } finally {
            a.destroyForcibly();
        }
        var options = PagedEngineTest.base().withHostStore(HostStoreOptions.at(dir, storeBytes));
        try (var b = PagedEngineTest.stories(options)) {
            int[] prompt = b.tokenizer().encode(PagedEngineTest.STORY, true, false);
            GenerationResult r = PagedEngineTest.run(b, prompt, 30, null);
            assertEquals((prompt.length - 1) / 16 * 16, r.cachedTokens(), "B restored A's blocks");
            assertArrayEquals(tokensOfA, r.tokens(), "B's greedy tokens are A's");
        }
    }

    @Test
    void aStoreHeldByALiveProcessIsNotSharedAndIsAttachedOnceThatProcessDies() throws Exception {
        long storeBytes = 8L << 20;
        Process a = startWriter(storeBytes, "hang");
        try {
            int[] tokensOfA = tokensOf(a, new ArrayList<>());
            var options = PagedEngineTest.base().withHostStore(HostStoreOptions.at(dir, storeBytes));
            // A is alive and holds blocks.kvfn: B gets a file of its own instead of writing into A's slot table
            try (var b = PagedEngineTest.stories(options)) {
                assertTrue(b.hostStoreDescription().contains("blocks.1.kvfn (created"), b.hostStoreDescription());
                int[] prompt = b.tokenizer().encode(PagedEngineTest.STORY, true, false);
                GenerationResult r = PagedEngineTest.run(b, prompt, 30, null);
                assertEquals(0, r.cachedTokens());
                assertArrayEquals(tokensOfA, r.tokens());
            }
            a.destroyForcibly();
            assertTrue(a.waitFor(30, TimeUnit.SECONDS));
            // A's lock died with it: the next engine attaches A's file and its blocks
            try (var c = PagedEngineTest.stories(options)) {
                assertTrue(c.hostStoreDescription().contains("blocks.kvfn (attached"), c.hostStoreDescription());
                int[] prompt = c.tokenizer().encode(PagedEngineTest.STORY, true, false);
                GenerationResult r = PagedEngineTest.run(c, prompt, 30, null);
                assertEquals((prompt.length - 1) / 16 * 16, r.cachedTokens());
                assertArrayEquals(tokensOfA, r.tokens());
            }
        } finally {
            a.destroyForcibly();
        }
    }

    /** Process A: {@link HostStoreWriter} computing the story prompt into this test's store, then exiting or hanging. */
    Process startWriter(long storeBytes, String howAStops) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), HostStoreWriter.class.getName(),
                SharedModels.file("stories260K.bin").toString(), SharedModels.file("tok512.bin").toString(), dir.toString(),
                Long.toString(storeBytes), "30", howAStops, PagedEngineTest.STORY)).redirectErrorStream(true).start();
    }

    /** Reads A's output up to SPILLED (its blocks are in the store) and returns its greedy tokens. */
    static int[] tokensOf(Process a, List<String> output) throws Exception {
        int[] tokens = null;
        var in = new BufferedReader(new InputStreamReader(a.getInputStream(), StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            output.add(line);
            if (line.startsWith("TOKENS ")) tokens = Arrays.stream(line.substring(7).split(",")).mapToInt(Integer::parseInt).toArray();
            if (line.equals("SPILLED")) break;
        }
        assertNotNull(tokens, "process A printed no tokens: " + output);
        return tokens;
    }
}
