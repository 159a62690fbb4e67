package dev.kvfn.engine.cpu.kernel;

import org.jboss.logging.Logger;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Lowers a compute thread's scheduling priority (its Linux nice value), so that when compute keeps every core busy
 * the threads that answer requests — HTTP event loops writing stream chunks, 429s, health probes — still run at
 * once: the scheduler gives a nice-10 thread about a tenth of the weight of a nice-0 one, and nothing when it is
 * alone. Raising one's own nice value needs no privilege. Where the call is unavailable (not Linux, no native access)
 * the threads keep their priority and one line says so.
 */
public final class ComputePriority {
    private static final Logger LOG = Logger.getLogger(ComputePriority.class);
    private static final int PRIO_PROCESS = 0; // with a thread id: that thread only (Linux)
    private static final Calls CALLS = Calls.find();

    private record Calls(MethodHandle gettid, MethodHandle setpriority, String unavailable) {
        static Calls find() {
            if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
                return new Calls(null, null, "not Linux");
            }
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                MethodHandle gettid = linker.downcallHandle(libc.find("gettid").orElseThrow(),
                        FunctionDescriptor.of(JAVA_INT));
                MethodHandle setpriority = linker.downcallHandle(libc.find("setpriority").orElseThrow(),
                        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
                return new Calls(gettid, setpriority, null);
            } catch (RuntimeException | LinkageError e) { // no FFM (some native images), no symbol, access refused
                return new Calls(null, null, e.toString());
            }
        }
    }

    private ComputePriority() {}

    /**
     * Sets the calling thread's nice value to {@code nice} (1-19; 0 leaves it alone). Returns whether it was set;
     * never throws: a priority is an optimisation, not a requirement.
     */
    public static boolean lowerCurrentThread(int nice) {
        if (nice == 0) return false;
        if (nice < 0 || nice > 19) throw new IllegalArgumentException("compute nice must be in 0..19, got " + nice);
        if (CALLS.unavailable() != null) {
            LOG.debugf("compute threads keep their priority: %s", CALLS.unavailable());
            return false;
        }
        try {
            int tid = (int) CALLS.gettid().invokeExact();
            int rc = (int) CALLS.setpriority().invokeExact(PRIO_PROCESS, tid, nice);
            if (rc != 0) LOG.debugf("setpriority(%d) failed for thread %d", nice, tid);
            return rc == 0;
        } catch (Throwable e) {
            LOG.debugf("compute threads keep their priority: %s", e);
            return false;
        }
    }
}
