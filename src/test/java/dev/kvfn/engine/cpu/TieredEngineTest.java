package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.kv.tier.TierStats;
import dev.kvfn.kv.tier.HostStore;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.SpillPolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.kvfn.engine.cpu.PagedEngineTest.STORY;
import static dev.kvfn.engine.cpu.PagedEngineTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host tier on stories260K: an engine restarted on the same host store restores its prompts'
 * blocks instead of computing them and yields the same greedy tokens; damaged, truncated or foreign
 * stores never produce a wrong token, only misses (counted).
 */
class TieredEngineTest {
    @TempDir
    Path dir;

    static final long STORE_BYTES = 8L << 20;

    EngineOptions options() {
        return PagedEngineTest.base().withHostStore(HostStoreOptions.at(dir, STORE_BYTES));
    }

    static int[] prompt(CpuEngine e) {
        return e.tokenizer().encode(STORY, true, false);
    }

    private static int[] storyPrompt;

    /** The story prompt's tokens (one engine loaded for them, once). */
    static synchronized int[] storyPrompt() {
        if (storyPrompt == null) {
            try (var probe = PagedEngineTest.stories(PagedEngineTest.base())) {
                storyPrompt = prompt(probe);
            }
        }
        return storyPrompt.clone();
    }

    /** Greedy tokens with no cache of any kind. */
    static int[] cold(int[] prompt, int maxTokens) throws Exception {
        try (var e = PagedEngineTest.stories(PagedEngineTest.base().withPrefixCaching(false))) {
            return run(e, prompt, maxTokens, null).tokens();
        }
    }

    Path storeFile() throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> p.getFileName().toString().equals(HostStore.FILE_NAME)).findFirst().orElseThrow();
        }
    }

    /** Engine A computes the prompt (write-through to the host store) and closes. */
    int[] computeAndClose(int[] prompt) throws Exception {
        try (var a = PagedEngineTest.stories(options())) {
            GenerationResult r = run(a, prompt, 30, null);
            assertEquals(0, r.cachedTokens());
            assertTrue(a.persist(java.time.Duration.ofSeconds(10)));
            return r.tokens();
        }
    }

    @Test
    void aRestartedEngineRestoresFromTheHostStoreWithIdenticalTokens() throws Exception {
        int[] p = storyPrompt();
        int[] expected = cold(p, 30);
        assertArrayEquals(expected, computeAndClose(p));
        try (var b = PagedEngineTest.stories(options())) {
            GenerationResult r = run(b, p, 30, null);
            assertEquals((p.length - 1) / 16 * 16, r.cachedTokens(), "every full block but the last came from the host store");
            assertArrayEquals(expected, r.tokens());
            TierStats host = b.stats().tier("host");
            assertEquals(r.cachedTokens(), host.hitTokens());
            assertEquals(0, b.stats().pool().hitTokens());
            assertTrue(host.restores().bytes() > 0);
            // a prompt sharing only the first 40 tokens restores the 2 blocks they fill, then diverges
            int[] branch = Arrays.copyOf(p, 60);
            branch[45] = (branch[45] + 7) % 512;
            GenerationResult br = run(b, branch, 20, null);
            assertEquals(32, br.cachedTokens());
            assertArrayEquals(cold(branch, 20), br.tokens());
        }
    }

    /** Where the store's slot data begins: after the 4096-byte header and 128 bytes per slot, page-aligned. */
    private static long dataStart(Path file) throws Exception {
        try (var ch = FileChannel.open(file, StandardOpenOption.READ)) {
            var hdr = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(hdr, 0);
            int slots = hdr.getInt(12);
            return (4096 + slots * 128L + 4095) / 4096 * 4096;
        }
    }

    @Test
    void aFlippedByteInTheStoreCostsAHitNotAToken() throws Exception {
        int[] p = storyPrompt();
        int[] expected = computeAndClose(p);
        Path file = storeFile();
        // flip a byte in slot 0's data: the chain's first block fails its checksum
        long dataStart = dataStart(file);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(dataStart + 7); // slot 0 holds the chain's first block
            int b = f.read();
            f.seek(dataStart + 7);
            f.write(b ^ 1);
        }
        try (var b = PagedEngineTest.stories(options())) {
            GenerationResult r = run(b, p, 30, null);
            assertArrayEquals(expected, r.tokens());
            assertEquals(0, r.cachedTokens(), "the chain's first block failed its checksum: nothing after it is usable");
            assertEquals(1, b.stats().tier("host").faults());
            GenerationResult again = run(b, p, 30, null);
            assertTrue(again.cachedTokens() > 0, "recomputed blocks replace the bad one");
            assertArrayEquals(expected, again.tokens());
        }
    }

    @Test
    void aTruncatedOrForeignStoreIsRepairedOrReplacedWithoutWrongTokens() throws Exception {
        int[] p = storyPrompt();
        int[] expected = computeAndClose(p);
        Path file = storeFile();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
        }
        try (var b = PagedEngineTest.stories(options())) {
            GenerationResult r = run(b, p, 30, null);
            assertArrayEquals(expected, r.tokens());
            assertTrue(b.persist(java.time.Duration.ofSeconds(10)));
        }
        // another model's store under this model's directory: replaced, never read
        Path synthetic = PagedEngineTest.synthetic;
        if (synthetic == null) {
            PagedEngineTest.synthetic(PagedEngineTest.base()).close();
        }
        Path otherDir = Files.createTempDirectory("kvfn-other");
        try (var other = PagedEngineTest.synthetic(PagedEngineTest.base().withHostStore(HostStoreOptions.at(otherDir, STORE_BYTES)))) {
            run(other, new int[]{1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61, 65, 69}, 5, null);
            other.persist(java.time.Duration.ofSeconds(10));
        }
        Path foreign;
        try (Stream<Path> s = Files.walk(otherDir)) {
            foreign = s.filter(x -> x.getFileName().toString().equals(HostStore.FILE_NAME)).findFirst().orElseThrow();
        }
        Files.copy(foreign, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (var b = PagedEngineTest.stories(options())) {
            GenerationResult r = run(b, p, 30, null);
            assertEquals(0, r.cachedTokens());
            assertArrayEquals(expected, r.tokens());
        }
    }

    @Test
    void aStoreCutWhileTheEngineRunsTurnsTheHostTierOffAndRequestsAreServedCold() throws Exception {
        int[] p = storyPrompt();
        int[] expected = computeAndClose(p);
        Path file = storeFile();
        long dataStart = dataStart(file);
        try (var b = PagedEngineTest.stories(options())) {
            assertTrue(b.hostStoreDescription().contains("attached"), b.hostStoreDescription());
            // cut under the running engine: the slot table stays, every block's bytes are gone (a mapped read = SIGBUS)
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(dataStart + 100);
            }
            GenerationResult r = run(b, p, 30, null);
            assertArrayEquals(expected, r.tokens(), "computed instead of restored");
            assertEquals(0, r.cachedTokens());
            assertTrue(b.hostStoreDescription().contains("off"), b.hostStoreDescription());
            assertTrue(b.stats().tier("host").faults() >= 1, "counted: " + b.stats());
            assertEquals(null, b.failure(), "a tier failure is not an engine failure");
            // the engine goes on: the same prompt hits the pool now, another prompt is computed, writes no longer reach the file
            GenerationResult again = run(b, p, 30, null);
            assertArrayEquals(expected, again.tokens());
            int[] other = b.tokenizer().encode("Tom had a red car. He liked to drive it fast around the garden every day.", true, false);
            assertArrayEquals(cold(other, 10), run(b, other, 10, null).tokens());
            assertTrue(b.persist(java.time.Duration.ofSeconds(30)), "nothing stuck in the spill queue");
            assertEquals(dataStart + 100, Files.size(file), "the store no longer writes to the cut file");
        }
        // the next start repairs the file and serves correct tokens
        try (var c = PagedEngineTest.stories(options())) {
            assertTrue(c.hostStoreDescription().contains("repaired"), c.hostStoreDescription());
            assertArrayEquals(expected, run(c, p, 30, null).tokens());
        }
    }

    @Test
    void onEvictSpillsWhatThePoolDropsAndRestoresIt() throws Exception {
        int[] p;
        long block;
        try (var probe = PagedEngineTest.stories(PagedEngineTest.base())) {
            p = prompt(probe);
            block = probe.kvLayout().blockBytes();
        }
        int[] expected = cold(p, 10);
        var opts = PagedEngineTest.base().withPoolBytes(12 * block)
                .withHostStore(HostStoreOptions.at(dir, STORE_BYTES).withPolicy(SpillPolicy.ON_EVICT));
        try (var e = PagedEngineTest.stories(opts)) {
            assertArrayEquals(expected, run(e, p, 10, null).tokens());
            assertEquals(0, e.stats().tier("host").writes().blocks(), "on-evict writes nothing while the pool keeps the blocks");
            // other prompts push the story's blocks out of the 12-block pool
            for (String other : List.of("Tom had a red car. He liked to drive it fast around the garden every single day of the week.",
                    "The cat sat on the mat and looked at the bird in the tree. The bird sang a song for the cat.")) {
                run(e, e.tokenizer().encode(other.repeat(2), true, false), 5, null);
            }
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(e.stats().tier("host").writes().blocks() > 0, "evicted blocks were spilled: " + e.stats());
            GenerationResult r = run(e, p, 10, null);
            assertTrue(r.cachedTokens() > 0 && e.stats().tier("host").hitTokens() > 0, "restored from the host: " + e.stats());
            assertArrayEquals(expected, r.tokens());
            PagedEngineTest.awaitIdle(e);
        }
    }

    @Test
    void prewarmLoadsTheMostRecentChainsIntoThePoolAtStart() throws Exception {
        int[] p = storyPrompt();
        int[] expected = computeAndClose(p);
        try (var b = PagedEngineTest.stories(PagedEngineTest.base().withHostStore(HostStoreOptions.at(dir, STORE_BYTES).withPrewarm(64)))) {
            assertTrue(b.stats().pool().cached() > 0, "prewarmed blocks wait in the pool: " + b.stats());
            GenerationResult r = run(b, p, 30, null);
            assertArrayEquals(expected, r.tokens());
            assertTrue(r.cachedTokens() > 0);
            assertEquals(r.cachedTokens(), b.stats().pool().hitTokens(), "served from the pool, not restored on demand");
        }
    }
}
