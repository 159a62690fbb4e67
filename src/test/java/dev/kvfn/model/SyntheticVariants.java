package dev.kvfn.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * Synthetic models with extra metadata or tensors on top of what {@code kvfn synth} writes (a sliding
 * window, Phi-3 long-rope factors, a tensor an architecture does not have): for tests only.
 */
public final class SyntheticVariants {
    private SyntheticVariants() {}

    /** The synthetic model of {@code arch}, then {@code extra} may put keys (replacing) and add tensors. */
    public static Path write(SyntheticModel.Arch arch, SyntheticModel.Shape shape, GgmlType type, long seed, Path out,
                             Consumer<GgufWriter> extra) throws IOException {
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            GgufWriter w = SyntheticModel.writer(arch, shape, WeightTypes.uniform(type), seed, pool);
            extra.accept(w);
            w.write(out);
        }
        return out;
    }

    /** An F32 vector tensor. */
    public static void vector(GgufWriter w, String name, float... values) {
        w.addTensor(name, GgmlType.F32, new long[] {values.length}, Quantize.encode(values, GgmlType.F32));
    }
}
