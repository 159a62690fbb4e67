package dev.kvfn.bench;

import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.engine.cpu.kernel.Matrix;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Two builds of the kernels in one JVM, on a shared noisy machine: each build's classes get their
 * own class loader and the same weights, and single steps alternate between them (order swapped
 * every round), so load from elsewhere hits both alike. Prints per batch the median step time of
 * each and the median of the per-round after/before ratios.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp target/test-classes:JBOSS_LOGGING_JAR dev.kvfn.bench.KernelAb
 *     beforeClasses afterClasses [types] [batches] [threads] [layers] [rounds]</pre>
 * e.g. {@code /tmp/before-classes target/classes Q8_0,Q4_0 1,2,3,4,5,6,7,8,12,16 2 2 31}.
 */
public final class KernelAb {
    public static void main(String[] a) throws Exception {
        String[] types = (a.length > 2 ? a[2] : "Q8_0,Q4_0").split(",");
        int[] batches = Arrays.stream((a.length > 3 ? a[3] : "1,2,4,8,16").split(",")).mapToInt(Integer::parseInt).toArray();
        int threads = a.length > 4 ? Integer.parseInt(a[4]) : 2;
        int layers = a.length > 5 ? Integer.parseInt(a[5]) : 2;
        int rounds = a.length > 6 ? Integer.parseInt(a[6]) : 31;
        URL tests = KernelAb.class.getProtectionDomain().getCodeSource().getLocation();
        // the kernels log through JBoss Logging (ComputePriority): each build's loader needs that jar too
        URL logging = Class.forName("org.jboss.logging.Logger").getProtectionDomain().getCodeSource().getLocation();
        for (String type : types) {
            IntConsumer[] step = new IntConsumer[2];
            for (int v = 0; v < 2; v++) {
                // Parent is the platform loader: each build loads its own dev.kvfn classes, Step included.
                URLClassLoader cl = new URLClassLoader(new URL[] {Path.of(a[v]).toUri().toURL(), tests, logging}, ClassLoader.getPlatformClassLoader());
                step[v] = (IntConsumer) cl.loadClass(Step.class.getName()).getConstructor(String.class, int.class, int.class)
                        .newInstance(type.trim(), threads, layers);
            }
            for (int batch : batches) {
                for (int w = 0; w < 20; w++) {
                    step[0].accept(batch);
                    step[1].accept(batch);
                }
                double[][] ms = new double[2][rounds];
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    for (int i = 0; i < 2; i++) {
                        int v = (r & 1) == 0 ? i : 1 - i;
                        long t0 = System.nanoTime();
                        step[v].accept(batch);
                        ms[v][r] = (System.nanoTime() - t0) / 1e6;
                    }
                    ratio[r] = ms[1][r] / ms[0][r];
                }
                Arrays.sort(ms[0]);
                Arrays.sort(ms[1]);
                Arrays.sort(ratio);
                System.out.printf("%-5s batch %2d  before %8.2f ms  after %8.2f ms  median ratio %.3f%n",
                        type, batch, ms[0][rounds / 2], ms[1][rounds / 2], ratio[rounds / 2]);
            }
        }
    }

    /** One step: every matrix of {@code layers} Llama-1B layers (wq wk wv wo w1 w3 w2) once at a batch. */
    public static final class Step implements IntConsumer {
        private final List<Matrix> matrices = new ArrayList<>();
        private final float[] x = new float[64 * 8192], out = new float[64 * 8192];

        public Step(String typeName, int threads, int layers) {
            GgmlType type = GgmlType.valueOf(typeName);
            WorkerPool pool = new WorkerPool(threads);
            Arena arena = Arena.ofShared(); // lives as long as the JVM: one per build and type
            Random rnd = new Random(42);
            int[][] shapes = {{2048, 2048}, {512, 2048}, {512, 2048}, {2048, 2048}, {8192, 2048}, {8192, 2048}, {2048, 8192}};
            for (int l = 0; l < layers; l++) {
                for (int[] s : shapes) {
                    float[] v = new float[s[0] * s[1]];
                    for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() * 0.02);
                    byte[] b = Quantize.encode(v, type);
                    MemorySegment seg = arena.allocate(b.length, 64);
                    seg.copyFrom(MemorySegment.ofArray(b));
                    matrices.add(Matrices.of(new Tensor("w", type, new long[] {s[1], s[0]}, seg), pool));
                }
            }
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        }

        @Override
        public void accept(int batch) {
            for (Matrix m : matrices) m.multiply(x, out, batch);
        }
    }
}
