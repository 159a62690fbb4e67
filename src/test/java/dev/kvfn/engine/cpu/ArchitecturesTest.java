package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.SyntheticModel.Arch;
import dev.kvfn.model.SyntheticVariants;
import dev.kvfn.model.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The architectures besides llama (qwen2, qwen3, phi3) on synthetic models: each loads and generates, runs batched
 * as it runs alone, and each difference from llama is proven by an invariant on the same weights (Qwen 2 with zero
 * biases is llama; Qwen 3's Q/K norm makes a head's scale irrelevant; Phi-3's fused tensors are llama's split ones).
 * Token-for-token agreement with llama.cpp itself is {@code LlamaCppParityTest}'s.
 */
class ArchitecturesTest {
    private static final int[] PROMPT = {1, 300, 301, 302, 303, 304, 305, 17, 99, 250, 3, 411};

    @TempDir
    Path tmp;

    private Path synth(Arch arch) throws Exception {
        Path file = tmp.resolve(arch.ggufName() + ".gguf");
        SyntheticModel.write(arch, SyntheticModel.Shape.TINY, GgmlType.F32, 3, file);
        return file;
    }

    private static float[] floats(Tensor t) {
        return t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
    }

    private static Tensor f32(String name, long[] shape, float[] values) {
        return new Tensor(name, GgmlType.F32, shape, MemorySegment.ofArray(values));
    }

    /** Rows {@code [first, first + count)} of an F32 matrix as a tensor of its own. */
    private static Tensor rows(Tensor t, String name, int first, int count) {
        float[] all = floats(t);
        return f32(name, new long[] {t.cols(), count}, Arrays.copyOfRange(all, first * t.cols(), (first + count) * t.cols()));
    }

    private static LlamaConfig as(LlamaConfig c, Architecture arch, boolean tied) {
        return new LlamaConfig(arch, c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), c.headSize(), c.vocab(),
                c.contextLength(), c.rmsEps(), c.ropeTheta(), c.ropeDim(), c.ropeStyle(), c.ropeScaling(), c.ropeAttnFactor(),
                c.ropeOriginalContext(), tied);
    }

    private static float[] logits(LlamaConfig config, Map<String, Tensor> tensors, Path file) {
        try (var pool = new WorkerPool(1)) {
            var t = new Transformer(config, LlamaWeights.load(config, tensors, file, pool), pool, 64);
            return Prefill.forward(t, PROMPT, 0, PROMPT.length, 0, ContiguousKv.forModel(config));
        }
    }

    private static float maxDiff(float[] a, float[] b) {
        float worst = 0;
        for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        return worst;
    }

    private static int[] generate(CpuEngine e, int n) throws Exception {
        return e.submit(new GenerationRequest(PROMPT, n, SamplingParams.GREEDY), null).result().get(120, TimeUnit.SECONDS).tokens();
    }

    @ParameterizedTest
    @EnumSource(Arch.class)
    void eachArchitectureLoadsAndGenerates(Arch arch) throws Exception {
        Path file = synth(arch);
        try (var e = CpuEngine.load(file, null, 1)) {
            assertEquals(arch.ggufName(), e.model().architecture());
            LlamaConfig c = e.config();
            assertEquals(arch.ggufName(), c.architecture().ggufName());
            assertEquals(arch == Arch.LLAMA ? LlamaConfig.RopeStyle.NORMAL : LlamaConfig.RopeStyle.NEOX, c.ropeStyle());
            assertEquals(arch == Arch.QWEN3 ? 32 : 16, c.headSize(), "qwen3 reads attention.key_length");
            assertEquals(c.heads() * c.headSize(), c.qDim());
            assertEquals(arch == Arch.PHI3 ? false : true, c.tiedOutput(), "only the synthetic phi3 ships output.weight");
            int[] tokens = generate(e, 24);
            assertEquals(24, tokens.length);
            assertTrue(Arrays.stream(tokens).distinct().count() > 3, "a random model still varies its tokens: "
                    + Arrays.toString(tokens));
            assertArrayEquals(tokens, generate(e, 24), "greedy is deterministic (the second run hits the prefix cache)");
        }
    }

    @ParameterizedTest
    @EnumSource(Arch.class)
    void batchedStepsEqualSequencesAlone(Arch arch) throws Exception {
        Path file = synth(arch);
        try (GgufFile gguf = GgufFile.open(file); var pool = new WorkerPool(2)) {
            LlamaConfig config = LlamaConfig.fromGguf(gguf);
            BatchedForwardTest.batchedEqualsAlone(config, LlamaWeights.load(config, gguf.tensors(), file, pool), pool, 8);
        }
    }

    @Test
    void qwen2WithZeroBiasesIsLlamaOnTheSameWeights() throws Exception {
        Path file = synth(Arch.QWEN2);
        try (GgufFile gguf = GgufFile.open(file)) {
            LlamaConfig qwen = LlamaConfig.fromGguf(gguf);
            var zeroBiases = new HashMap<>(gguf.tensors());
            var noBiases = new HashMap<>(gguf.tensors());
            for (Tensor t : gguf.tensors().values()) {
                if (t.name().endsWith(".bias")) {
                    zeroBiases.put(t.name(), f32(t.name(), t.shape(), new float[(int) t.elements()]));
                    noBiases.remove(t.name());
                }
            }
            assertEquals(3 * qwen.layers(), gguf.tensors().size() - noBiases.size(), "q, k and v biases per block");
            float[] biased = logits(qwen, gguf.tensors(), file);
            float[] zero = logits(qwen, zeroBiases, file);
            float[] llama = logits(as(qwen, Architecture.LLAMA, true), noBiases, file);
            assertArrayEquals(llama, zero, "adding zero biases must not change a single bit");
            assertTrue(maxDiff(biased, llama) > 1e-2f, "the synthetic biases must matter: " + maxDiff(biased, llama));
            // qwen2 requires its biases, as llama.cpp does
            var e = assertThrows(ModelFormatException.class, () -> logits(qwen, noBiases, file));
            assertTrue(e.getMessage().endsWith("missing tensor blk.0.attn_q.bias"), e.getMessage());
        }
    }

    @Test
    void qwen3NormalizesEachQueryAndKeyHeadBeforeRope() throws Exception {
        Path file = synth(Arch.QWEN3);
        try (GgufFile gguf = GgufFile.open(file)) {
            LlamaConfig c = LlamaConfig.fromGguf(gguf);
            int hs = c.headSize();
            float[] base = logits(c, gguf.tensors(), file);
            // Scaling one head's rows of Wq and Wk by 3 changes nothing after that head's RMSNorm ...
            UnaryOperator<Tensor> scaleHead1 = t -> {
                float[] w = floats(t);
                for (int i = hs * t.cols(); i < 2 * hs * t.cols(); i++) w[i] *= 3f;
                return f32(t.name(), t.shape(), w);
            };
            var scaledQk = new HashMap<>(gguf.tensors());
            for (String n : new String[] {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.1.attn_q.weight"}) {
                scaledQk.put(n, scaleHead1.apply(gguf.tensor(n)));
            }
            float[] qk = logits(c, scaledQk, file);
            assertTrue(maxDiff(base, qk) < 1e-4f, "per-head norm makes the head's scale irrelevant: " + maxDiff(base, qk));
            // ... while the same scaling of V, which is not normalized, does
            var scaledV = new HashMap<>(gguf.tensors());
            scaledV.put("blk.0.attn_v.weight", scaleHead1.apply(gguf.tensor("blk.0.attn_v.weight")));
            assertTrue(maxDiff(base, logits(c, scaledV, file)) > 1e-2f, "scaling V must matter");
            // and the norm weights themselves are applied
            var flatNorm = new HashMap<>(gguf.tensors());
            float[] ones = new float[hs];
            Arrays.fill(ones, 1f);
            flatNorm.put("blk.0.attn_q_norm.weight", f32("blk.0.attn_q_norm.weight", new long[] {hs}, ones));
            assertTrue(maxDiff(base, logits(c, flatNorm, file)) > 1e-2f, "the q norm weights must matter");
        }
    }

    @Test
    void phi3FusedTensorsAreLlamasSplitOnes() throws Exception {
        Path file = synth(Arch.PHI3);
        try (GgufFile gguf = GgufFile.open(file)) {
            LlamaConfig phi = LlamaConfig.fromGguf(gguf);
            int qDim = phi.qDim(), kvDim = phi.kvDim(), hidden = phi.hiddenDim();
            var split = new HashMap<>(gguf.tensors());
            for (int l = 0; l < phi.layers(); l++) {
                String p = "blk." + l + ".";
                Tensor qkv = split.remove(p + "attn_qkv.weight");
                assertNotNull(qkv, "the synthetic phi3 fuses Q, K and V");
                split.put(p + "attn_q.weight", rows(qkv, p + "attn_q.weight", 0, qDim));
                split.put(p + "attn_k.weight", rows(qkv, p + "attn_k.weight", qDim, kvDim));
                split.put(p + "attn_v.weight", rows(qkv, p + "attn_v.weight", qDim + kvDim, kvDim));
                Tensor gateUp = gguf.tensor(p + "ffn_up.weight");
                assertEquals(2 * hidden, gateUp.rows());
                split.put(p + "ffn_gate.weight", rows(gateUp, p + "ffn_gate.weight", 0, hidden));
                split.put(p + "ffn_up.weight", rows(gateUp, p + "ffn_up.weight", hidden, hidden));
            }
            float[] fused = logits(phi, gguf.tensors(), file);
            float[] llama = logits(as(phi, Architecture.LLAMA, false), split, file);
            assertArrayEquals(llama, fused, "the fused tensors cut into rows are the same matrices");
            // phi3 also accepts separate q/k/v (as llama.cpp does), but never a separate ffn_gate
            var separate = new HashMap<>(split);
            separate.put("blk.0.ffn_up.weight", gguf.tensor("blk.0.ffn_up.weight"));
            separate.remove("blk.1.ffn_gate.weight");
            separate.put("blk.1.ffn_up.weight", gguf.tensor("blk.1.ffn_up.weight"));
            var e = assertThrows(ModelFormatException.class, () -> logits(phi, separate, file));
            assertTrue(e.getMessage().contains("tensor blk.0.ffn_gate.weight is not part of the 'phi3' architecture"), e.getMessage());
            separate.remove("blk.0.ffn_gate.weight");
            assertArrayEquals(fused, logits(phi, separate, file), "separate q/k/v tensors give the same model");
        }
    }

    @Test
    void phi3LongRopeFactorsFollowTheContextAndKeepCachesApart() throws Exception {
        float[] longFactors = {1, 1.5f, 2, 3, 5, 8, 13, 21};
        float[] shortFactors = {1, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f, 1.6f, 1.7f};
        Path file = SyntheticVariants.write(Arch.PHI3, SyntheticModel.Shape.TINY, GgmlType.F32, 3, tmp.resolve("long.gguf"), w -> {
            w.putUInt32("phi3.rope.scaling.original_context_length", 128).putFloat32("phi3.rope.scaling.attn_factor", 1.19f);
            SyntheticVariants.vector(w, "rope_factors_long.weight", longFactors);
            SyntheticVariants.vector(w, "rope_factors_short.weight", shortFactors);
        });
        try (GgufFile gguf = GgufFile.open(file); var pool = new WorkerPool(1)) {
            LlamaConfig full = LlamaConfig.fromGguf(gguf);
            assertEquals(1.19f, full.ropeAttnFactor());
            assertTrue(full.longRopeFactors(), "context 256 exceeds the original 128");
            assertArrayEquals(longFactors, LlamaWeights.load(full, gguf.tensors(), file, pool).ropeFreqFactors());
            LlamaConfig cut = full.withContextLength(128);
            assertFalse(cut.longRopeFactors());
            assertArrayEquals(shortFactors, LlamaWeights.load(cut, gguf.tensors(), file, pool).ropeFreqFactors());
        }
        try (var longCtx = CpuEngine.load(file, null, EngineOptions.defaults(1));
             var shortCtx = CpuEngine.load(file, null, EngineOptions.defaults(1).withContextLimit(128))) {
            assertNotEquals(longCtx.fingerprint(), shortCtx.fingerprint(), "K computed with other factors never shares a block");
            assertFalse(Arrays.equals(generate(longCtx, 16), generate(shortCtx, 16)), "the factor sets must matter");
        }
    }

    @Test
    void aSlidingWindowKeyIsIgnoredAsLlamaCppIgnoresIt() throws Exception {
        // Mistral 7B v0.1 declares a 4096-token window; llama.cpp's llama and phi3 never apply one (LlamaCppParityTest)
        int[] plain;
        try (var e = CpuEngine.load(synth(Arch.LLAMA), null, 1)) {
            plain = generate(e, 20);
        }
        Path swa = SyntheticVariants.write(Arch.LLAMA, SyntheticModel.Shape.TINY, GgmlType.F32, 3, tmp.resolve("swa.gguf"),
                w -> w.putUInt32("llama.attention.sliding_window", 4));
        try (var e = CpuEngine.load(swa, null, 1)) {
            assertArrayEquals(plain, generate(e, 20));
        }
    }

    @Test
    void unknownArchitecturesAndForeignTensorsAreRefusedAtLoad() throws Exception {
        // the llama model with its architecture value patched in place ("llama" and "gemma" are both 5 bytes)
        byte[] bytes = SyntheticModel.toBytes(Arch.LLAMA, SyntheticModel.Shape.TINY, GgmlType.F32, 3);
        byte[] key = "general.architecture".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int at = indexOf(bytes, key) + key.length + 4 + 8; // the key, its value type, the string's length
        assertEquals("llama", new String(bytes, at, 5, java.nio.charset.StandardCharsets.US_ASCII));
        System.arraycopy("gemma".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, bytes, at, 5);
        Path gemma = java.nio.file.Files.write(tmp.resolve("gemma.gguf"), bytes);
        var e = assertThrows(ModelFormatException.class, () -> CpuEngine.load(gemma, null, 1).close());
        assertEquals(gemma + ": general.architecture is 'gemma'; the CPU engine runs llama, qwen2, qwen3, phi3", e.getMessage());

        Path biasedQwen3 = SyntheticVariants.write(Arch.QWEN3, SyntheticModel.Shape.TINY, GgmlType.F32, 3, tmp.resolve("q3b.gguf"),
                w -> SyntheticVariants.vector(w, "blk.0.attn_q.bias", new float[128]));
        e = assertThrows(ModelFormatException.class, () -> CpuEngine.load(biasedQwen3, null, 1).close());
        assertEquals(biasedQwen3 + ": tensor blk.0.attn_q.bias is not part of the 'qwen3' architecture as the CPU engine runs it;"
                + " refusing rather than ignoring it", e.getMessage());

        // llama's attention biases are optional, as in llama.cpp: present, they are applied
        Path biasedLlama = SyntheticVariants.write(Arch.LLAMA, SyntheticModel.Shape.TINY, GgmlType.F32, 3, tmp.resolve("lb.gguf"), w -> {
            SyntheticVariants.vector(w, "blk.0.attn_q.bias", filled(64, 0.3f));
            SyntheticVariants.vector(w, "blk.0.attn_k.bias", filled(32, -0.2f));
            SyntheticVariants.vector(w, "blk.0.attn_v.bias", filled(32, 0.4f));
            SyntheticVariants.vector(w, "blk.1.attn_output.bias", filled(64, 0.1f));
        });
        try (GgufFile gguf = GgufFile.open(biasedLlama); var pool = new WorkerPool(1)) {
            LlamaConfig c = LlamaConfig.fromGguf(gguf);
            LlamaWeights w = LlamaWeights.load(c, gguf.tensors(), biasedLlama, pool);
            assertNotNull(w.layers()[0].bq());
            assertNull(w.layers()[0].bo());
            assertNull(w.layers()[1].bq());
            assertNotNull(w.layers()[1].bo());
            try (var plain = GgufFile.open(synth(Arch.LLAMA))) {
                assertTrue(maxDiff(logits(c, plain.tensors(), plain.path()), logits(c, gguf.tensors(), biasedLlama)) > 1e-2f);
            }
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) continue outer;
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }
}
