package dev.kvfn.engine.cpu;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.SyntheticModel.Arch;
import dev.kvfn.model.SyntheticModel.Shape;
import dev.kvfn.model.SyntheticVariants;

import java.nio.file.Path;

/**
 * The synthetic models of {@link LlamaCppParityTest}'s architecture cases, each with the
 * {@link LlamaCppParityTest.ParityCase.SyntheticWriter} signature.
 */
final class ArchitectureParityModels {
    private ArchitectureParityModels() {}

    static void qwen2(Shape shape, GgmlType type, long seed, Path out) throws Exception {
        SyntheticModel.write(Arch.QWEN2, shape, type, seed, out);
    }

    static void qwen3(Shape shape, GgmlType type, long seed, Path out) throws Exception {
        SyntheticModel.write(Arch.QWEN3, shape, type, seed, out);
    }

    static void phi3(Shape shape, GgmlType type, long seed, Path out) throws Exception {
        SyntheticModel.write(Arch.PHI3, shape, type, seed, out);
    }

    /**
     * Mistral 7B v0.1 as converted to GGUF: a llama that declares a sliding window, here 8 positions, far shorter
     * than the prompts and steps compared. llama.cpp's llama architecture never reads the key; kvfn ignores it too.
     */
    static void mistralSlidingWindow(Shape shape, GgmlType type, long seed, Path out) throws Exception {
        SyntheticVariants.write(Arch.LLAMA, shape, type, seed, out, w -> w.putUInt32("llama.attention.sliding_window", 8));
    }

    /**
     * A Phi-3 long-rope model (Phi-3-mini-128k / Phi-3.5 style): both factor sets, RoPE attn_factor, and an original
     * context of 128 under the model's 256, so a full-context run uses {@code rope_factors_long}. Also declares the
     * sliding window Phi-3 GGUFs carry, which llama.cpp switches off.
     */
    static void phi3LongRope(Shape shape, GgmlType type, long seed, Path out) throws Exception {
        int half = shape.headSize() / 2;
        float[] longFactors = new float[half], shortFactors = new float[half];
        for (int i = 0; i < half; i++) {
            longFactors[i] = 1f + 0.6f * i;   // low frequencies stretched most, as in the real tables
            shortFactors[i] = 1f + 0.03f * i;
        }
        SyntheticVariants.write(Arch.PHI3, shape, type, seed, out, w -> {
            w.putUInt32("phi3.rope.scaling.original_context_length", 128)
                    .putFloat32("phi3.rope.scaling.attn_factor", 1.19f)
                    .putUInt32("phi3.attention.sliding_window", 8);
            SyntheticVariants.vector(w, "rope_factors_long.weight", longFactors);
            SyntheticVariants.vector(w, "rope_factors_short.weight", shortFactors);
        });
    }
}
