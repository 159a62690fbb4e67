package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.SyntheticModel.Shape;
import dev.kvfn.model.WeightTypes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole forward pass over a synthetic model whose rows are multiples of 256, so every type and mixture is used
 * as written (no fallback): the logits of a prompt track the F32 model's within a bound that scales with the type's
 * step size. This checks the types end to end inside kvfn; LlamaCppParityTest checks them against llama.cpp.
 */
class QuantizedModelTest {
    private static final Shape SHAPE = new Shape("k", 256, 4, 4, 2, 512, 128, 600, 1e4f, 1e-5f);
    private static final int[] PROMPT = {1, 17, 300, 42, 599, 77, 5, 256};

    @TempDir
    static Path dir;
    private static float[] reference;

    @BeforeAll
    static void f32() throws Exception {
        reference = logits(WeightTypes.uniform(GgmlType.F32));
    }

    private static float[] logits(WeightTypes types) throws Exception {
        Path file = dir.resolve(types.name() + ".gguf");
        SyntheticModel.write(SHAPE, types, 3, file);
        try (GgufFile g = GgufFile.open(file); var pool = new WorkerPool(2)) {
            LlamaConfig config = LlamaConfig.fromGguf(g);
            var t = new Transformer(config, LlamaWeights.load(config, g.tensors(), file, pool), pool, 128);
            return Prefill.forward(t, PROMPT, 0, PROMPT.length, 0, ContiguousKv.forModel(config)).clone();
        }
    }

    /**
     * Bounds, as a fraction of the largest |logit|: about 1.5x the drift measured here (2026-11-30: Q8_0 0.019,
     * Q6_K 0.080, 5-bit 0.12-0.16, 4-bit 0.23-0.29 with Q4_0, bit-exact with ggml's encoder, at 0.25). Random weights
     * through 4 layers amplify the weight error, but it halves with each extra bit as it should; a misread layout
     * gives logits of other weights altogether (drift of the order of the range itself). The 3- and 2-bit K-quants
     * continue the halving (measured the same day: Q3_K_L 0.35, Q3_K_M 0.44, Q3_K_S 0.41, Q3_K 0.62 with its output
     * matrix in Q3_K too, Q2_K_M 0.73, Q2_K 0.84): their bounds still catch a broken path (NaNs, garbage scales), but
     * 2 bits leave too little signal here to tell a misread layout from quantization error, so LlamaCppParityTest,
     * where a misread of Q2_K fails at the first step, is what checks that layout end to end.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q8_0", "Q6_K", "Q5_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K", "Q4_K_M", "Q4_1", "IQ4_NL", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q3_K", "Q2_K_M", "Q2_K"})
    void logitsTrackTheF32Model(String type) throws Exception {
        float[] quantized = logits(WeightTypes.byName(type));
        float worst = 0, range = 0;
        for (int i = 0; i < reference.length; i++) {
            worst = Math.max(worst, Math.abs(reference[i] - quantized[i]));
            range = Math.max(range, Math.abs(reference[i]));
        }
        double bound = switch (type) {
            case "Q8_0" -> 0.03;
            case "Q6_K" -> 0.12;
            case "Q5_K", "Q5_K_M", "Q5_1", "Q5_0" -> 0.25;
            case "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q3_K" -> 0.9;
            case "Q2_K_M", "Q2_K" -> 1.25;
            default -> 0.45;
        };
        System.out.printf("%s: worst logit drift %.4f of range %.3f (%.4f)%n", type, worst, range, worst / range);
        assertTrue(worst > 0, type + ": quantization should change the logits a little");
        assertTrue(worst < bound * range, type + " logits drift by " + worst + " (range " + range + ", bound " + bound + " of it)");
    }
}
