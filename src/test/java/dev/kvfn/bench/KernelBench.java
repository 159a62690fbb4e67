package dev.kvfn.bench;

import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.engine.cpu.kernel.Matrix;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Kernel throughput on the weight shapes of a Llama-1B (dim 2048, 16 layers, 8 KV heads of 64,
 * FFN 8192, vocab 32000), random quantized weights in native memory.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes dev.kvfn.bench.KernelBench [threads] [prefillTokens] [types] [batches]</pre>
 * e.g. {@code ... KernelBench 2 512 Q8_0,Q4_0,F16 1,2,4,8,16,32,64}; add {@code -Dkvfn.kernels=scalar} (with prefill 0 and
 * batches "none") for the fallback. Decode runs every matrix of one token at batch 1; prefill runs every matrix for
 * {@code prefillTokens} tokens in 64-token chunks. The batch table then runs every matrix once per step with each batch
 * size, one input vector per sequence as in continuous batching, and reports the aggregate tokens/s.
 */
public final class KernelBench {
    private static final int DIM = 2048, KV_DIM = 512, FFN = 8192, VOCAB = 32000, LAYERS = 16, CHUNK = 64;

    /** One weight shape of the per-token set: {@code rows x cols}, repeated {@code count} times. */
    record Shape(String name, int rows, int cols, int count) {}

    private static final List<Shape> SHAPES = List.of(
            new Shape("wq", DIM, DIM, LAYERS), new Shape("wk", KV_DIM, DIM, LAYERS), new Shape("wv", KV_DIM, DIM, LAYERS),
            new Shape("wo", DIM, DIM, LAYERS), new Shape("w1", FFN, DIM, LAYERS), new Shape("w3", FFN, DIM, LAYERS),
            new Shape("w2", DIM, FFN, LAYERS), new Shape("output", VOCAB, DIM, 1));

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int prefillTokens = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        String[] types = (args.length > 2 ? args[2] : "Q8_0,Q4_0,F16").split(",");
        String batchList = args.length > 3 ? args[3] : "1,2,4,8,16,32,64";
        int[] batches = batchList.equals("none") ? new int[0]
                : java.util.Arrays.stream(batchList.split(",")).mapToInt(b -> Integer.parseInt(b.trim())).toArray();
        for (int b : batches) if (b < 1 || b > CHUNK) throw new IllegalArgumentException("batch sizes must be in [1, " + CHUNK + "], got " + b);
        if (prefillTokens % CHUNK != 0) throw new IllegalArgumentException("prefill tokens must be a multiple of " + CHUNK);
        System.out.printf("kernels=%s threads=%d prefill=%d tokens (chunks of %d)%n",
                Matrices.vectorKernels() ? "vector" : "scalar", threads, prefillTokens, CHUNK);
        try (WorkerPool pool = new WorkerPool(threads)) {
            barrierCost(pool);
            System.out.printf("%-5s %8s %12s %8s %10s %12s %12s%n", "type", "GB/tok", "decode ms", "GB/s", "decode t/s", "prefill s", "prefill t/s");
            for (String name : types) run(GgmlType.valueOf(name.trim()), pool, prefillTokens, batches);
        }
    }

    private static void run(GgmlType type, WorkerPool pool, int prefillTokens, int[] batches) {
        try (Arena arena = Arena.ofShared()) { // shared: the pool's threads read it
            List<Matrix> matrices = new ArrayList<>();
            long bytes = 0;
            byte[] pattern = randomBlocks(type, 1 << 20, new Random(42));
            long cursor = 0;
            for (Shape s : SHAPES) {
                for (int i = 0; i < s.count(); i++) {
                    long size = type.bytesFor((long) s.rows() * s.cols());
                    MemorySegment seg = arena.allocate(size, 64);
                    // Tile a random block pattern, starting at a different block each time, so matrices differ.
                    long unit = type.bytesPerBlock();
                    for (long off = 0; off < size; ) {
                        long start = (cursor++ * 7919 % (pattern.length / unit)) * unit;
                        long n = Math.min(size - off, pattern.length - start);
                        MemorySegment.copy(MemorySegment.ofArray(pattern), start, seg, off, n);
                        off += n;
                    }
                    matrices.add(Matrices.of(new Tensor(s.name(), type, new long[] {s.cols(), s.rows()}, seg), pool));
                    bytes += size;
                }
            }
            float[] x = new float[CHUNK * FFN];
            float[] out = new float[CHUNK * VOCAB];
            Random rnd = new Random(1);
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();

            for (int i = 0; i < 5; i++) token(matrices, x, out, 1); // warm-up and JIT
            int tokens = 10;
            long t0 = System.nanoTime();
            for (int i = 0; i < tokens; i++) token(matrices, x, out, 1);
            double decodeS = (System.nanoTime() - t0) / 1e9 / tokens;

            double prefillS = Double.NaN; // prefill 0 skips it (the scalar kernels take minutes)
            if (prefillTokens > 0) {
                token(matrices, x, out, CHUNK); // warm-up of the prefill path
                long t1 = System.nanoTime();
                for (int done = 0; done < prefillTokens; done += CHUNK) token(matrices, x, out, CHUNK);
                prefillS = (System.nanoTime() - t1) / 1e9;
            }

            System.out.printf("%-5s %8.3f %12.1f %8.1f %10.1f %12.2f %12.1f%n", type, bytes / 1e9, decodeS * 1e3,
                    bytes / 1e9 / decodeS, 1 / decodeS, prefillS, prefillTokens / prefillS);
            if (batches.length > 0) batchTable(type, matrices, x, out, batches);
        }
    }

    /** One step = every matrix once at {@code batch} rows: the per-step time and tokens/s summed over the batch. */
    private static void batchTable(GgmlType type, List<Matrix> matrices, float[] x, float[] out, int[] batches) {
        System.out.printf("  %-5s %6s %10s %14s %14s%n", type, "batch", "step ms", "aggregate t/s", "per-seq t/s");
        for (int batch : batches) {
            for (int i = 0; i < 3; i++) token(matrices, x, out, batch); // JIT of this batch's path
            int steps = 0;
            long t0 = System.nanoTime(), elapsed;
            do {
                token(matrices, x, out, batch);
                steps++;
                elapsed = System.nanoTime() - t0;
            } while (elapsed < 1_500_000_000L || steps < 3);
            double stepS = elapsed / 1e9 / steps;
            System.out.printf("  %-5s %6d %10.1f %14.1f %14.2f%n", "", batch, stepS * 1e3, batch / stepS, 1 / stepS);
        }
    }

    /** Cost of one {@code forRange} hand-off with no work: paid ~113 times per decoded token. */
    private static void barrierCost(WorkerPool pool) {
        int[] sink = new int[pool.threads() * 16];
        WorkerPool.RangeTask touch = (from, to) -> sink[from * 16 % sink.length]++;
        for (int i = 0; i < 200_000; i++) pool.forRange(pool.threads(), touch);
        int calls = 200_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) pool.forRange(pool.threads(), touch);
        System.out.printf("forRange hand-off: %.2f us per call%n", (System.nanoTime() - t0) / 1e3 / calls);
    }

    private static void token(List<Matrix> matrices, float[] x, float[] out, int batch) {
        for (Matrix m : matrices) m.multiply(x, out, batch);
    }

    private static byte[] randomBlocks(GgmlType type, int elements, Random rnd) {
        float[] v = new float[elements];
        for (int i = 0; i < elements; i++) v[i] = (float) (rnd.nextGaussian() * 0.02);
        return Quantize.encode(v, type);
    }
}
