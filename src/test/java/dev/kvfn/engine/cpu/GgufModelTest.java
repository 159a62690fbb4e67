package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GGUF loading: quantized and untied weights, metadata errors, RoPE variants. */
class GgufModelTest {
    @TempDir
    Path tmp;

    private static float[] floats(Tensor t) {
        return t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
    }

    /** stories260K re-written as GGUF, with {@code types} choosing each tensor's storage. */
    private Path writeStories(Llama2cCheckpoint c, String arch, java.util.function.Function<Tensor, GgmlType> types,
                              boolean untiedOutput) throws Exception {
        var tok = Llama2cTokenizer.load(SharedModels.file("tok512.bin"));
        String[] pieces = new String[tok.vocabSize()];
        for (int i = 0; i < pieces.length; i++) pieces[i] = tok.piece(i);
        var w = new TestGgufWriter()
                .put("general.architecture", arch).put("general.name", "stories-test")
                .put("llama.embedding_length", 64).put("llama.block_count", 5).put("llama.attention.head_count", 8)
                .put("llama.attention.head_count_kv", 4).put("llama.feed_forward_length", 172)
                .put("llama.context_length", 512).put("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .put("llama.rope.freq_base", 10000f).put("llama.rope.dimension_count", 8)
                .put("tokenizer.ggml.tokens", pieces);
        for (Tensor t : c.tensors().values()) {
            GgmlType type = types.apply(t);
            w.tensor(t.name(), type, Quantize.encode(floats(t), type), t.shape());
        }
        if (untiedOutput) {
            Tensor e = c.tensors().get("token_embd.weight");
            w.tensor("output.weight", GgmlType.F16, Quantize.encode(floats(e), GgmlType.F16), e.shape());
        }
        Path p = tmp.resolve("stories-" + arch + ".gguf");
        w.write(p);
        return p;
    }

    private static float[] logits(LlamaConfig config, Map<String, Tensor> tensors, Path file, int[] prompt) {
        try (var pool = new WorkerPool(1)) {
            var t = new Transformer(config, LlamaWeights.load(config, tensors, file, pool), pool, 512);
            return Prefill.forward(t, prompt, 0, prompt.length, 0, ContiguousKv.forModel(config)).clone();
        }
    }

    @Test
    void quantizedAndUntiedWeightsTrackTheF32Model() throws Exception {
        Path bin = SharedModels.file("stories260K.bin");
        var tok = Llama2cTokenizer.load(SharedModels.file("tok512.bin"));
        int[] prompt = tok.encode("Once upon a time, there was a little girl", true, false);
        try (var c = Llama2cCheckpoint.open(bin)) {
            float[] reference = logits(LlamaConfig.fromLlama2c(c.header()), c.tensors(), bin, prompt);
            // Q8_0 wherever rows are whole blocks (embedding included: lookups go through Matrix.row)
            Path q8 = writeStories(c, "llama", t -> t.shape().length == 2 && t.shape()[0] % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F32, true);
            try (var gguf = GgufFile.open(q8)) {
                LlamaConfig config = LlamaConfig.fromGguf(gguf);
                assertEquals(false, config.tiedOutput());
                assertEquals(GgmlType.Q8_0, gguf.tensor("token_embd.weight").type());
                float[] quantized = logits(config, gguf.tensors(), q8, prompt);
                float worst = 0, range = 0;
                for (int i = 0; i < reference.length; i++) {
                    worst = Math.max(worst, Math.abs(reference[i] - quantized[i]));
                    range = Math.max(range, Math.abs(reference[i]));
                }
                assertTrue(worst < 0.03f * range, "Q8_0 logits drift by " + worst + " (range " + range + ")");
                assertTrue(worst > 0, "quantization should change the logits a little");
                assertEquals(Sampler.argmax(reference, reference.length), Sampler.argmax(quantized, quantized.length));
            }
        }
    }

    @Test
    void engineRunsAnOpenGgufAndNamesTheModel() throws Exception {
        Path bin = SharedModels.file("stories260K.bin");
        var tok = Llama2cTokenizer.load(SharedModels.file("tok512.bin"));
        try (var c = Llama2cCheckpoint.open(bin)) {
            Path f32 = writeStories(c, "llama", t -> GgmlType.F32, false);
            int[] prompt = tok.encode("Once upon a time", true, false);
            int[] expected;
            try (var ref = CpuEngine.load(bin, SharedModels.file("tok512.bin"), 1)) {
                expected = ref.submit(new GenerationRequest(prompt, 30, SamplingParams.GREEDY), null).result().get(60, TimeUnit.SECONDS).tokens();
            }
            try (var engine = CpuEngine.fromGguf(GgufFile.open(f32), "synthetic:test", tok, 1)) {
                assertEquals("stories-test", engine.model().name());
                assertEquals("synthetic:test", engine.model().source());
                assertEquals(512, engine.model().contextLength());
                var r = engine.submit(new GenerationRequest(prompt, 30, SamplingParams.GREEDY), null).result().get(60, TimeUnit.SECONDS);
                assertArrayEquals(expected, r.tokens());
            }
        }
    }

    @Test
    void wrongArchitectureAndUnsupportedTypesFailWithTheFileName() throws Exception {
        Path bin = SharedModels.file("stories260K.bin");
        try (var c = Llama2cCheckpoint.open(bin)) {
            Path gpt2 = writeStories(c, "gpt2", t -> GgmlType.F32, false);
            try (var gguf = GgufFile.open(gpt2)) {
                var e = assertThrows(ModelFormatException.class, () -> LlamaConfig.fromGguf(gguf));
                assertEquals(gpt2 + ": general.architecture is 'gpt2'; the CPU engine runs llama, qwen2, qwen3, phi3", e.getMessage());
            }
        }
        // IQ3_S has no CPU kernel: the loader must say so, naming the tensor and what is supported (64x64 = 16 blocks of 256)
        try (var c = Llama2cCheckpoint.open(bin)) {
            Path k = tmp.resolve("k.gguf");
            var tensors = new HashMap<String, Tensor>();
            try (var gguf = GgufFile.open(writeStories(c, "llama", t -> GgmlType.F32, false))) {
                tensors.putAll(gguf.tensors());
                LlamaConfig config = LlamaConfig.fromGguf(gguf);
                tensors.put("blk.0.attn_q.weight", new Tensor("blk.0.attn_q.weight", GgmlType.IQ3_S, new long[] {64, 64},
                        MemorySegment.ofArray(new byte[(int) GgmlType.IQ3_S.bytesFor(64 * 64)])));
                try (var pool = new WorkerPool(1)) {
                    var e = assertThrows(ModelFormatException.class, () -> LlamaWeights.load(config, tensors, k, pool));
                    assertEquals(k + ": tensor blk.0.attn_q.weight has type IQ3_S, which the CPU engine does not support (supported: "
                            + "F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, BF16)", e.getMessage());
                }
            }
        }
    }

    /**
     * NEOX pairs (i, i+half) instead of (2i, 2i+1). Reordering each head's rows of Wq and Wk so
     * that old dimension 2i lands on i and 2i+1 on i+half makes the NEOX model compute exactly the
     * same attention, so the logits must agree; with NORMAL style on those weights they must not.
     */
    @Test
    void neoxRopeOnPermutedWeightsEqualsNormalRope() {
        Path bin = SharedModels.file("stories260K.bin");
        var tok = Llama2cTokenizer.load(SharedModels.file("tok512.bin"));
        int[] prompt = tok.encode("Once upon a time, there was a little girl", true, false);
        try (var c = Llama2cCheckpoint.open(bin)) {
            LlamaConfig normal = LlamaConfig.fromLlama2c(c.header());
            LlamaConfig neox = new LlamaConfig(normal.dim(), normal.hiddenDim(), normal.layers(), normal.heads(), normal.kvHeads(),
                    normal.vocab(), normal.contextLength(), normal.rmsEps(), normal.ropeTheta(), normal.ropeDim(),
                    LlamaConfig.RopeStyle.NEOX, null, true);
            var permuted = new HashMap<>(c.tensors());
            for (int l = 0; l < normal.layers(); l++) {
                for (String name : new String[] {"attn_q", "attn_k"}) {
                    String full = "blk." + l + "." + name + ".weight";
                    permuted.put(full, halvesLayout(c.tensors().get(full), normal.headSize()));
                }
            }
            float[] a = logits(normal, c.tensors(), bin, prompt);
            float[] b = logits(neox, permuted, bin, prompt);
            float worst = 0;
            for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
            assertTrue(worst < 1e-4f, "NEOX on permuted weights differs by " + worst);
            float[] wrong = logits(normal, permuted, bin, prompt);
            float diff = 0;
            for (int i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - wrong[i]));
            assertTrue(diff > 1e-2f, "the rope style must matter: " + diff);
        }
    }

    private static Tensor halvesLayout(Tensor t, int headSize) {
        int cols = t.cols(), rows = t.rows(), half = headSize / 2;
        float[] src = floats(t), dst = new float[src.length];
        for (int r = 0; r < rows; r++) {
            int head = r / headSize, d = r % headSize;
            int target = head * headSize + (d % 2 == 0 ? d / 2 : half + d / 2);
            System.arraycopy(src, r * cols, dst, target * cols, cols);
        }
        return new Tensor(t.name(), GgmlType.F32, t.shape(), MemorySegment.ofArray(dst));
    }

    @Test
    void ropeScalingAndFrequencyFactors() {
        var base = new LlamaConfig(64, 128, 1, 2, 2, 16, 8192, 1e-5f, 500000f, 32, LlamaConfig.RopeStyle.NORMAL, null, true);
        float[] plain = base.ropeInverseFrequencies(null);
        assertEquals(1f, plain[0]);
        assertEquals((float) Math.pow(500000, -2.0 * 15 / 32), plain[15], 1e-9f);

        var llama3 = new LlamaConfig.RopeScaling(LlamaConfig.RopeScaling.Type.LLAMA3, 8f, 1f, 4f, 8192);
        var scaledConfig = new LlamaConfig(64, 128, 1, 2, 2, 16, 131072, 1e-5f, 500000f, 32, LlamaConfig.RopeStyle.NORMAL, llama3, true);
        float[] scaled = scaledConfig.ropeInverseFrequencies(null);
        assertEquals(plain[0], scaled[0]);                 // wavelength 2π: far below 8192/4, untouched
        assertEquals(plain[15] / 8f, scaled[15], 1e-12f);  // wavelength beyond 8192: divided by the factor
        boolean smoothed = false;
        for (int i = 0; i < 16; i++) {
            assertTrue(scaled[i] <= plain[i] && scaled[i] >= plain[i] / 8f * 0.999f, "pair " + i);
            if (scaled[i] < plain[i] * 0.999f && scaled[i] > plain[i] / 8f * 1.001f) smoothed = true;
        }
        assertTrue(smoothed, "some middle frequencies are interpolated");

        float[] factors = new float[16];
        java.util.Arrays.fill(factors, 2f);
        factors[3] = 4f;
        float[] fromTensor = scaledConfig.ropeInverseFrequencies(factors); // rope_freqs replaces the llama3 formula
        assertEquals(plain[3] / 4f, fromTensor[3], 1e-9f);
        assertEquals(plain[15] / 2f, fromTensor[15], 1e-12f);
        assertThrows(IllegalArgumentException.class, () -> base.ropeInverseFrequencies(new float[3]));
    }
}
