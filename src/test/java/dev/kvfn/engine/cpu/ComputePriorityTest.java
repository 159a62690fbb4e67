package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.cpu.kernel.ComputePriority;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Compute threads lower their own Linux nice value, and only their own. */
@EnabledOnOs(OS.LINUX)
class ComputePriorityTest {

    /** Field 19 of a task's stat line is its nice value (fields counted after the command name in parentheses). */
    static int nice(Path stat) throws IOException {
        String line = Files.readString(stat);
        String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(fields[16]);
    }

    static int currentNice() throws IOException {
        return nice(Path.of("/proc/thread-self/stat"));
    }

    @Test
    void aThreadLowersItsOwnPriorityOnly() throws Exception {
        int base = currentNice();
        int target = Math.min(19, base + 3);
        AtomicInteger seen = new AtomicInteger(-1);
        Thread t = Thread.ofPlatform().start(() -> {
            assertTrue(ComputePriority.lowerCurrentThread(target));
            try {
                seen.set(currentNice());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        t.join();
        assertEquals(target, seen.get());
        assertEquals(base, currentNice(), "the calling thread of another is untouched");
        assertFalse(ComputePriority.lowerCurrentThread(0), "0 leaves the priority alone");
        assertThrows(IllegalArgumentException.class, () -> ComputePriority.lowerCurrentThread(20));
        assertThrows(IllegalArgumentException.class, () -> EngineOptions.defaults(1).withComputeNice(-1));
    }

    @Test
    void theEnginesLoopAndWorkersRunAtTheConfiguredNice() throws Exception {
        int target = Math.min(19, currentNice() + 7); // a value no other engine in this JVM uses
        var options = EngineOptions.defaults(2).withComputeNice(target);
        try (var engine = CpuEngine.load(SharedModels.file("stories260K.bin"), SharedModels.file("tok512.bin"), options)) {
            // a finished generation: the loop thread has served, both worker shares have run
            engine.submit(new GenerationRequest(engine.tokenizer().encode("Once upon a time", true, false), 8, null), null)
                    .result().get(10, TimeUnit.MINUTES); // a hang guard only
            List<String> lowered = new ArrayList<>();
            try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
                for (Path task : tasks.toList()) {
                    String name;
                    int nice;
                    try {
                        name = Files.readString(task.resolve("comm")).strip();
                        nice = nice(task.resolve("stat"));
                    } catch (IOException gone) {
                        continue; // a thread that ended while listing
                    }
                    if (nice == target) lowered.add(name);
                }
            }
            assertTrue(lowered.contains("kvfn-cpu-engine"), "lowered threads: " + lowered);
            assertTrue(lowered.contains("kvfn-worker-1"), "lowered threads: " + lowered);
            assertEquals(2, lowered.size(), "only the engine's compute threads: " + lowered);
        }
    }
}
