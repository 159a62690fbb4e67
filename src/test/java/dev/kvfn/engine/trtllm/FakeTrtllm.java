package dev.kvfn.engine.trtllm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The test double of TensorRT-LLM (src/test/cpp/fake_trtllm.cpp) as tests see it: its options, the next token it
 * computes (the same pure function, to check tokens cross the binding intact), and its counters of live native objects,
 * read straight from the loaded library by symbol (they are not part of kvfn's ABI).
 */
final class FakeTrtllm {
    private FakeTrtllm() {}

    static final int VOCAB_LO = 3, VOCAB_HI = 259;

    /** The options string the fake reads from the engine directory. */
    static String engineDir(String extra) {
        return "fake:vocab_lo=" + VOCAB_LO + ",vocab_hi=" + VOCAB_HI + (extra.isEmpty() ? "" : "," + extra);
    }

    /** The token the fake generates after {@code context[0 .. n)} (mirrors kvfn_trtllm::next_token). */
    static int nextToken(int[] context, int n) {
        long h = 1469598103934665603L;
        for (int i = Math.max(0, n - 4); i < n; i++) h = fnv(h, context[i]);
        h = fnv(h, n);
        return VOCAB_LO + (int) Long.remainderUnsigned(h, VOCAB_HI - VOCAB_LO);
    }

    /** The tokens the fake generates for {@code prompt}, {@code count} of them. */
    static int[] expected(int[] prompt, int count) {
        int[] all = java.util.Arrays.copyOf(prompt, prompt.length + count);
        for (int i = 0; i < count; i++) all[prompt.length + i] = nextToken(all, prompt.length + i);
        return java.util.Arrays.copyOfRange(all, prompt.length, all.length);
    }

    private static long fnv(long h, long v) {
        for (int i = 0; i < 8; i++) {
            h ^= (v >>> (8 * i)) & 0xff;
            h *= 1099511628211L;
        }
        return h;
    }

    static long liveRequests() {
        return call("kvfn_fake_live_requests");
    }

    static long liveHandles() {
        return call("kvfn_fake_live_handles");
    }

    static long prioritizedRequests() {
        return call("kvfn_fake_prioritized_requests");
    }

    private static long call(String name) {
        TrtllmNative.load();
        MethodHandle h = Linker.nativeLinker().downcallHandle(symbol(name), FunctionDescriptor.of(ValueLayout.JAVA_LONG));
        try {
            return (long) h.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * The symbol in the fake JavaCPP loaded, found among the libraries this class's loader loaded: call these only from
     * a test whose engine lives in the same class loader (plain JUnit tests, not @QuarkusTest).
     */
    private static java.lang.foreign.MemorySegment symbol(String name) {
        return SymbolLookup.loaderLookup().find(name)
                .or(() -> Linker.nativeLinker().defaultLookup().find(name))
                .orElseThrow(() -> new AssertionError("the fake TensorRT-LLM library is not loaded (no " + name + ")"));
    }
}
