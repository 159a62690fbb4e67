package dev.kvfn.bench.suite;

import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The machine a run measured: CPU model, cores, memory, and its memory bandwidth as a streaming read of a buffer far
 * larger than any cache (decode is a streaming read of the weights, so this bounds every engine's decode rate).
 *
 * @param readGBs1     streaming read, one thread, GB/s (median of passes)
 * @param readGBsN     streaming read, {@code threads} threads each reading its own part at once
 */
record Machine(String cpu, int cores, long memoryBytes, double readGBs1, double readGBsN, int threads, String java) {

    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;

    static Machine measure(int threads, long bufferBytes) throws Exception {
        double one, many;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buffer = arena.allocate(bufferBytes, 64);
            buffer.fill((byte) 1); // touched, so the pages exist before the timing
            one = readGBs(buffer, 1);
            many = readGBs(buffer, threads);
        }
        return new Machine(cpuName(), Runtime.getRuntime().availableProcessors(), memTotal(), one, many, threads,
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    }

    /** Median of 7 timed passes (after one untimed) of every thread summing its share of the buffer. */
    private static double readGBs(MemorySegment buffer, int threads) throws Exception {
        long share = buffer.byteSize() / threads / 64 * 64;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            double[] rates = new double[7];
            long sink = 0;
            for (int pass = -1; pass < rates.length; pass++) {
                List<Callable<Long>> parts = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    MemorySegment part = buffer.asSlice(t * share, share);
                    parts.add(() -> sum(part));
                }
                long t0 = System.nanoTime();
                for (Future<Long> f : pool.invokeAll(parts)) sink += f.get();
                long nanos = System.nanoTime() - t0;
                if (pass >= 0) rates[pass] = share * threads / (double) nanos;
            }
            if (sink == 42) System.out.print(""); // keeps the sums alive
            Arrays.sort(rates);
            return rates[rates.length / 2];
        }
    }

    private static long sum(MemorySegment s) {
        LongVector a = LongVector.zero(LONGS), b = LongVector.zero(LONGS);
        long step = LONGS.vectorByteSize(), n = s.byteSize() / (2 * step) * (2 * step);
        for (long i = 0; i < n; i += 2 * step) {
            a = a.add(LongVector.fromMemorySegment(LONGS, s, i, ByteOrder.nativeOrder()));
            b = b.add(LongVector.fromMemorySegment(LONGS, s, i + step, ByteOrder.nativeOrder()));
        }
        return a.add(b).reduceLanes(VectorOperators.ADD);
    }

    static String cpuName() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (IOException e) {
            return "unknown CPU";
        }
    }

    private static long memTotal() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal:"))
                    .findFirst().map(l -> Long.parseLong(l.replaceAll("\\D", "")) * 1024).orElse(0L);
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    /** CPU flags that matter for these kernels, as /proc/cpuinfo lists them. */
    static String vectorFlags() {
        try {
            String flags = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("flags"))
                    .findFirst().orElse("");
            List<String> wanted = List.of("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16");
            List<String> have = new ArrayList<>();
            for (String f : wanted) if ((" " + flags + " ").contains(" " + f + " ")) have.add(f);
            return String.join(" ", have);
        } catch (IOException e) {
            return "";
        }
    }

    String describe() {
        return String.format("%s, %d cores visible, %.1f GiB memory; streaming read %.1f GB/s (1 thread), %.1f GB/s (%d threads); %s",
                cpu, cores, memoryBytes / (double) (1L << 30), readGBs1, readGBsN, threads, java);
    }
}
