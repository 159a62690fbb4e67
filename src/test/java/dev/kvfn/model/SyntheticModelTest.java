package dev.kvfn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvfn.model.SyntheticModel.Shape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticModelTest {

    @TempDir
    Path dir;

    @Test
    void tinyModelHasLlamaMetadataAndTensorsOfTheRightShapes() throws IOException {
        Shape s = Shape.TINY;
        Path file = dir.resolve("tiny.gguf");
        SyntheticModel.write(s, GgmlType.Q8_0, 1, file);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals("llama", g.string("general.architecture"));
            assertEquals("kvfn-synthetic-tiny-Q8_0", g.string("general.name"));
            assertEquals(32, g.integer("general.alignment"));
            assertEquals(7, g.integer("general.file_type"));
            assertEquals(256, g.integer("llama.context_length"));
            assertEquals(64, g.integer("llama.embedding_length"));
            assertEquals(2, g.integer("llama.block_count"));
            assertEquals(192, g.integer("llama.feed_forward_length"));
            assertEquals(4, g.integer("llama.attention.head_count"));
            assertEquals(2, g.integer("llama.attention.head_count_kv"));
            assertEquals(16, g.integer("llama.rope.dimension_count"));
            assertEquals(512, g.integer("llama.vocab_size"));
            assertEquals(10000f, g.real("llama.rope.freq_base", 0));
            assertEquals(1e-5f, g.real("llama.attention.layer_norm_rms_epsilon", 0));
            assertEquals("llama", g.string("tokenizer.ggml.model"));
            assertEquals(1, g.integer("tokenizer.ggml.bos_token_id"));
            assertEquals(2, g.integer("tokenizer.ggml.eos_token_id"));
            assertEquals(0, g.integer("tokenizer.ggml.unknown_token_id"));
            assertTrue(g.bool("tokenizer.ggml.add_bos_token", false));
            assertEquals(512, g.array("tokenizer.ggml.tokens", String[].class).length);

            Map<String, long[]> expected = expectedShapes(s);
            assertEquals(expected.keySet(), g.tensors().keySet());
            assertEquals(2 + 9 * s.layers(), g.tensors().size());
            long params = 0;
            for (Tensor t : g.tensors().values()) {
                assertArrayEquals(expected.get(t.name()), t.shape(), "shape of " + t.name());
                boolean norm = t.name().endsWith("norm.weight");
                assertEquals(norm ? GgmlType.F32 : GgmlType.Q8_0, t.type(), "type of " + t.name());
                if (norm) {
                    for (float v : t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED)) assertEquals(1f, v, t.name());
                }
                params += t.elements();
            }
            assertEquals(s.parameterCount(), params);
            assertFalse(g.tensors().containsKey("output.weight"), "embeddings are tied");
        }
    }

    @Test
    void weightsAreCenteredWithStandardDeviationOneOverSqrtCols() throws IOException {
        try (GgufFile g = GgufFile.open(SyntheticModel.tinyTempFile())) {
            for (String name : List.of("token_embd.weight", "blk.0.attn_k.weight", "blk.1.ffn_down.weight")) {
                Tensor t = g.tensor(name);
                float[] w = t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
                double sum = 0, sumSq = 0, bound = Math.sqrt(3.0 / t.cols());
                for (float v : w) {
                    assertTrue(Math.abs(v) <= bound, name + " value " + v + " beyond " + bound);
                    sum += v;
                    sumSq += v * v;
                }
                double mean = sum / w.length, std = Math.sqrt(sumSq / w.length - mean * mean);
                double want = 1 / Math.sqrt(t.cols());
                // five standard errors: the mean of n uniforms has std want/sqrt(n), their sample std about 0.45 want/sqrt(n)
                assertEquals(0, mean, 5 * want / Math.sqrt(w.length), name + " mean");
                assertEquals(want, std, 5 * 0.45 * want / Math.sqrt(w.length), name + " std");
                assertFalse(t.row(0).mismatch(t.row(1)) < 0, name + " rows differ");
            }
            assertFalse(g.tensor("blk.0.attn_q.weight").data().mismatch(g.tensor("blk.1.attn_q.weight").data()) < 0,
                    "layers get different weights");
        }
    }

    @Test
    void everyTypeStoresTheSameWeightsEncodedWithQuantize() throws IOException {
        Path f32 = dir.resolve("f32.gguf");
        SyntheticModel.write(Shape.TINY, GgmlType.F32, 5, f32);
        try (GgufFile reference = GgufFile.open(f32)) {
            for (GgmlType type : List.of(GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
                Path file = dir.resolve(type + ".gguf");
                SyntheticModel.write(Shape.TINY, type, 5, file);
                try (GgufFile g = GgufFile.open(file)) {
                    assertEquals(SyntheticModel.fileType(type), g.integer("general.file_type"));
                    for (Tensor ref : reference.tensors().values()) {
                        Tensor t = g.tensor(ref.name());
                        byte[] want = ref.name().endsWith("norm.weight")
                                ? ref.data().toArray(ValueLayout.JAVA_BYTE)
                                : Quantize.encode(ref.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED), type);
                        assertArrayEquals(want, t.data().toArray(ValueLayout.JAVA_BYTE), type + " " + ref.name());
                    }
                }
            }
        }
    }

    /** Rows of 256 and 512 weights: every K-quant applies without falling back. */
    private static final Shape K_SHAPE = new Shape("k", 256, 8, 4, 2, 512, 64, 300, 1e4f, 1e-5f);

    @Test
    void everyNewTypeAndMixtureStoresTheF32WeightsEncodedWithQuantize() throws IOException {
        Path f32 = dir.resolve("k-f32.gguf");
        SyntheticModel.write(K_SHAPE, GgmlType.F32, 5, f32);
        try (GgufFile reference = GgufFile.open(f32)) {
            List<WeightTypes> all = new ArrayList<>();
            for (GgmlType t : List.of(GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K,
                    GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K)) {
                all.add(WeightTypes.uniform(t));
            }
            all.addAll(List.of(WeightTypes.Q4_K_M, WeightTypes.Q5_K_M, WeightTypes.Q3_K_S, WeightTypes.Q3_K_M, WeightTypes.Q3_K_L,
                    WeightTypes.Q2_K_M));
            for (WeightTypes types : all) {
                Path file = dir.resolve("k-" + types.name() + ".gguf");
                SyntheticModel.write(K_SHAPE, types, 5, file);
                try (GgufFile g = GgufFile.open(file)) {
                    assertEquals(types.fileType(), g.integer("general.file_type"));
                    assertEquals("kvfn-synthetic-k-" + types.name(), g.string("general.name"));
                    for (Tensor ref : reference.tensors().values()) {
                        Tensor t = g.tensor(ref.name());
                        GgmlType want = ref.name().endsWith("norm.weight") ? GgmlType.F32 : expectedType(types, ref.name());
                        assertEquals(want, t.type(), types + " " + ref.name());
                        byte[] bytes = want == GgmlType.F32 ? ref.data().toArray(ValueLayout.JAVA_BYTE)
                                : Quantize.encode(ref.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED), want);
                        assertArrayEquals(bytes, t.data().toArray(ValueLayout.JAVA_BYTE), types + " " + ref.name());
                    }
                }
            }
        }
    }

    /**
     * The mixtures, written out for K_SHAPE's 8 layers (2 query heads per KV head) after llama-quant.cpp: Q6_K for the
     * tied embedding in all of them; Q4_K_M / Q5_K_M: Q6_K for attn_v and ffn_down in layers 0 and 7 (the first and last
     * eighth) and 3 and 6 (every third between); Q3_K_M: attn_v Q5_K in layers 0-1, Q4_K after, ffn_down and attn_output
     * Q4_K (8 layers have no first sixteenth); Q3_K_L: Q5_K for all three; Q2_K_M: Q3_K for all three (fewer than 4
     * query heads per KV head). The base type elsewhere.
     */
    private static GgmlType expectedType(WeightTypes types, String name) {
        if (types.mixture() == WeightTypes.Mixture.NONE) return types.base();
        if (name.equals("token_embd.weight")) return GgmlType.Q6_K;
        int layer = Integer.parseInt(name.split("\\.")[1]);
        boolean attnV = name.contains(".attn_v."), ffnDown = name.contains(".ffn_down."), attnOutput = name.contains(".attn_output.");
        return switch (types.name()) {
            case "Q4_K_M", "Q5_K_M" -> (attnV || ffnDown) && List.of(0, 3, 6, 7).contains(layer) ? GgmlType.Q6_K : types.base();
            case "Q3_K_S" -> GgmlType.Q3_K;
            case "Q3_K_M" -> attnV ? (layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K) : ffnDown || attnOutput ? GgmlType.Q4_K : GgmlType.Q3_K;
            case "Q3_K_L" -> attnV || ffnDown || attnOutput ? GgmlType.Q5_K : GgmlType.Q3_K;
            case "Q2_K_M" -> attnV || ffnDown || attnOutput ? GgmlType.Q3_K : GgmlType.Q2_K;
            default -> throw new AssertionError(types.name());
        };
    }

    @Test
    void mixtureRulesThatDependOnTheModel() {
        // Q2_K: attn_v in Q4_K once 4 or more query heads share a KV head
        assertEquals(GgmlType.Q3_K, WeightTypes.Q2_K_M.typeOf("blk.0.attn_v.weight", 256, 8, 2, true));
        assertEquals(GgmlType.Q4_K, WeightTypes.Q2_K_M.typeOf("blk.0.attn_v.weight", 256, 8, 4, true));
        // Q3_K_M: ffn_down in Q5_K in the first sixteenth of the layers; fused QKV (Phi-3) in Q4_K
        assertEquals(GgmlType.Q5_K, WeightTypes.Q3_K_M.typeOf("blk.1.ffn_down.weight", 256, 32, 1, true));
        assertEquals(GgmlType.Q4_K, WeightTypes.Q3_K_M.typeOf("blk.2.ffn_down.weight", 256, 32, 1, true));
        assertEquals(GgmlType.Q4_K, WeightTypes.Q3_K_M.typeOf("blk.0.attn_qkv.weight", 256, 32, 1, false));
        assertEquals(GgmlType.Q4_K, WeightTypes.Q3_K_L.typeOf("blk.0.attn_qkv.weight", 256, 32, 1, false));
        // an untied output matrix in Q6_K, the token embedding then in the base type
        assertEquals(GgmlType.Q6_K, WeightTypes.Q3_K_S.typeOf("output.weight", 256, 2, 1, false));
        assertEquals(GgmlType.Q3_K, WeightTypes.Q3_K_S.typeOf("token_embd.weight", 256, 2, 1, false));
        assertEquals(GgmlType.Q2_K, WeightTypes.uniform(GgmlType.Q2_K).typeOf("output.weight", 256, 2, 1, false));
    }

    @Test
    void kQuantsFallBackPerMatrixWhereRowsAreNot256() throws IOException {
        // tiny: rows of 64 (dim) and 192 (ffn) weights; llama.cpp's fallbacks: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
        // Q2_K and Q3_K -> IQ4_NL
        Map<WeightTypes, List<GgmlType>> cases = Map.of(
                WeightTypes.uniform(GgmlType.Q4_K), List.of(GgmlType.Q5_0),
                WeightTypes.uniform(GgmlType.Q5_K), List.of(GgmlType.Q5_1),
                WeightTypes.uniform(GgmlType.Q6_K), List.of(GgmlType.Q8_0),
                WeightTypes.Q4_K_M, List.of(GgmlType.Q5_0, GgmlType.Q8_0),
                WeightTypes.uniform(GgmlType.Q2_K), List.of(GgmlType.IQ4_NL),
                WeightTypes.Q3_K_M, List.of(GgmlType.IQ4_NL, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0));
        for (var c : cases.entrySet()) {
            Path file = dir.resolve("tiny-" + c.getKey().name() + ".gguf");
            SyntheticModel.write(Shape.TINY, c.getKey(), 1, file);
            try (GgufFile g = GgufFile.open(file)) {
                Set<GgmlType> seen = new HashSet<>();
                for (Tensor t : g.tensors().values()) if (!t.name().endsWith("norm.weight")) seen.add(t.type());
                assertEquals(Set.copyOf(c.getValue()), seen, c.getKey().name());
            }
        }
    }

    @Test
    void sameSeedGivesIdenticalBytesAndOtherSeedsDiffer() throws IOException {
        String a = sha256(SyntheticModel.toBytes(Shape.TINY, GgmlType.Q4_0, 42));
        String b = sha256(SyntheticModel.toBytes(Shape.TINY, GgmlType.Q4_0, 42));
        Path file = dir.resolve("seed42.gguf");
        SyntheticModel.write(Shape.TINY, GgmlType.Q4_0, 42, file);
        assertEquals(a, b);
        assertEquals(a, sha256(Files.readAllBytes(file)), "file and in-memory writes agree");
        assertNotEquals(a, sha256(SyntheticModel.toBytes(Shape.TINY, GgmlType.Q4_0, 43)));
        assertNotEquals(a, sha256(SyntheticModel.toBytes(Shape.TINY, GgmlType.Q8_0, 42)));

        // Rows come from per-row streams, so a row's values do not depend on how rows are chunked.
        float[] all = SyntheticModel.randomRows(99, 0, 6, 64, 1f);
        float[] tail = SyntheticModel.randomRows(99, 4, 6, 64, 1f);
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 4 * 64, 6 * 64), tail);
    }

    @Test
    void defaultTinyModelIsAvailableInMemoryAndAsATempFile() throws IOException {
        byte[] bytes = SyntheticModel.inMemoryTiny();
        Path file = SyntheticModel.tinyTempFile();
        assertSame(file, SyntheticModel.tinyTempFile(), "written once per JVM");
        assertArrayEquals(bytes, Files.readAllBytes(file));
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals("kvfn-synthetic-tiny-F32", g.string("general.name"));
            assertEquals(GgmlType.F32, g.tensor("blk.1.ffn_up.weight").type());
        }
    }

    @Test
    void llama135mQ8_0HasTheExpectedSize() throws IOException {
        Shape s = Shape.byName("llama-135m");
        Path file = dir.resolve("llama-135m-Q8_0.gguf");
        SyntheticModel.write(s, GgmlType.Q8_0, 0, file);
        Map<String, long[]> shapes = expectedShapes(s);
        long dataBytes = 0, params = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long elements = 1;
            for (long d : e.getValue()) elements *= d;
            params += elements;
            // Q8_0: 32 weights in 34 bytes; norms are 4-byte floats; each tensor padded to 32 bytes
            long bytes = e.getKey().endsWith("norm.weight") ? 4 * elements : elements / 32 * 34;
            dataBytes += (bytes + 31) / 32 * 32;
        }
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(110, g.tensors().size());
            assertEquals(32000, g.array("tokenizer.ggml.tokens", String[].class).length);
            assertEquals(g.dataOffset() + dataBytes, Files.size(file));
            assertTrue(g.dataOffset() > 32000 * 8 && g.dataOffset() < 1 << 20, "header holds the vocabulary: " + g.dataOffset());
            for (Tensor t : g.tensors().values()) assertArrayEquals(shapes.get(t.name()), t.shape(), t.name());
        }
        assertEquals(params, s.parameterCount());
    }

    @Test
    void vocabularyIsUniqueMergeableAndEncodesAnyText() throws IOException {
        SyntheticVocabulary big = SyntheticVocabulary.of(32000);
        assertVocabularyWellFormed(big.tokens(), big.scores(), big.types());
        for (String piece : List.of("▁", "▁the", "▁Once", "▁upon", "▁time", "ing", "a", "▁a", "~", "▁~", "▁qz")) {
            assertTrue(List.of(big.tokens()).contains(piece), "vocabulary has " + piece);
        }
        SentencePiece bigSpm = new SentencePiece(big.tokens(), big.scores());
        assertEquals(List.of("▁Once", "▁upon", "▁a", "▁time", ",", "▁the", "▁little", "▁girl", "▁named", "▁Lily"),
                bigSpm.pieces(bigSpm.encode("Once upon a time, the little girl named Lily")));

        try (GgufFile g = GgufFile.open(SyntheticModel.tinyTempFile())) {
            String[] tokens = g.array("tokenizer.ggml.tokens", String[].class);
            float[] scores = g.array("tokenizer.ggml.scores", float[].class);
            int[] types = g.array("tokenizer.ggml.token_type", int[].class);
            assertVocabularyWellFormed(tokens, scores, types);
            SentencePiece spm = new SentencePiece(tokens, scores);
            // the 512-token vocabulary holds only the most frequent words whole; the rest falls back to shorter pieces
            List<String> pieces = spm.pieces(spm.encode("the dog was happy"));
            assertTrue(pieces.containsAll(List.of("▁the", "▁was")) && pieces.size() < "the dog was happy".length(), pieces.toString());
            for (String text : List.of("Hello, world!", "tab\tnew\nline", "naïve café ✓ 🚀", "  two  spaces", "x")) {
                int[] enc = spm.encode(text);
                assertEquals(text, spm.decode(enc), "round trip of " + text);
                for (int id : enc) assertNotEquals(0, id, "no <unk> for " + text);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> SyntheticVocabulary.of(259));
    }

    private static void assertVocabularyWellFormed(String[] tokens, float[] scores, int[] types) {
        int n = tokens.length;
        assertEquals(n, scores.length);
        assertEquals(n, types.length);
        Set<String> unique = new HashSet<>(List.of(tokens));
        assertEquals(n, unique.size(), "pieces are unique");
        assertEquals("<unk>", tokens[0]);
        assertEquals("<s>", tokens[1]);
        assertEquals("</s>", tokens[2]);
        assertArrayEquals(new int[] {2, 3, 3}, java.util.Arrays.copyOf(types, 3));
        for (int b = 0; b < 256; b++) {
            assertEquals(String.format("<0x%02X>", b), tokens[3 + b]);
            assertEquals(6, types[3 + b]);
        }
        for (char c = '!'; c <= '~'; c++) {
            assertTrue(unique.contains(String.valueOf(c)) && unique.contains("▁" + c), "printable ASCII " + c);
        }
        Map<Integer, Float> minScoreByLength = new HashMap<>(), maxScoreByLength = new HashMap<>();
        for (int i = 259; i < n; i++) {
            String p = tokens[i];
            assertEquals(1, types[i], "normal piece " + p);
            int len = p.codePointCount(0, p.length());
            if (len > 1) {
                String prefix = p.substring(0, p.offsetByCodePoints(0, len - 1));
                assertTrue(unique.contains(prefix), "piece " + p + " can be merged from " + prefix);
            }
            minScoreByLength.merge(len, scores[i], Math::min);
            maxScoreByLength.merge(len, scores[i], Math::max);
        }
        for (int len : maxScoreByLength.keySet()) {
            if (minScoreByLength.containsKey(len + 1)) {
                assertTrue(minScoreByLength.get(len + 1) > maxScoreByLength.get(len), "longer pieces score higher");
            }
        }
    }

    @Test
    void hasEveryKeyLlamaCppsOwnLlamaVocabularyHas() throws IOException {
        Path models = Path.of(System.getProperty("kvfn.shared.models", "../shared/models"));
        Path spm = models.resolve("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(spm), "shared models not found at " + models + "; skipping");
        try (GgufFile reference = GgufFile.open(spm); GgufFile ours = GgufFile.open(SyntheticModel.tinyTempFile())) {
            for (Map.Entry<String, Object> e : reference.metadata().entrySet()) {
                Object mine = ours.metadata().get(e.getKey());
                assertNotNull(mine, "missing " + e.getKey());
                assertEquals(e.getValue().getClass(), mine.getClass(), "value type of " + e.getKey());
            }
            for (String key : List.of("tokenizer.ggml.model", "tokenizer.ggml.pre", "general.architecture")) {
                assertEquals(reference.string(key), ours.string(key), key);
            }
        }
    }

    @Test
    void badArgumentsAreRejectedWithClearMessages() throws IOException {
        assertSame(Shape.LLAMA_1B, Shape.byName("llama-1b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shape.byName("llama-7b"));
        assertTrue(e.getMessage().contains("'llama-7b'") && e.getMessage().contains("tiny, llama-135m, llama-1b"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SyntheticModel.write(Shape.TINY, GgmlType.IQ3_S, 0, dir.resolve("x.gguf")));
        assertTrue(e.getMessage().contains("IQ3_S") && e.getMessage().contains("Q8_0"), e.getMessage());
        assertSame(GgmlType.Q4_0, SyntheticModel.typeByName("q4_0"));
        assertSame(GgmlType.Q5_K, SyntheticModel.typeByName("q5_k"));
        assertSame(WeightTypes.Q4_K_M, WeightTypes.byName("q4_k_m"));
        assertSame(WeightTypes.Q3_K_M, WeightTypes.byName("q3_k_m"));
        assertEquals(GgmlType.Q2_K, WeightTypes.byName("Q2_K").base());
        assertEquals(WeightTypes.Mixture.NONE, WeightTypes.byName("Q2_K").mixture());
        e = assertThrows(IllegalArgumentException.class, () -> WeightTypes.byName("IQ3_M"));
        assertTrue(e.getMessage().contains("'IQ3_M'") && e.getMessage().contains("F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, "
                + "Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M, Q3_K_S, Q3_K_M, Q3_K_L, Q2_K_M"), e.getMessage());
        // K-quants fall back per matrix; where even the fallback's 32-weight blocks do not fit, the tensor is named
        Shape notEven32 = new Shape("odd", 48, 1, 4, 2, 256, 16, 300, 1e4f, 1e-5f);
        e = assertThrows(IllegalArgumentException.class, () -> SyntheticModel.toBytes(notEven32, GgmlType.Q4_K, 0));
        assertTrue(e.getMessage().contains("tensor token_embd.weight") && e.getMessage().contains("Q5_0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Shape("odd", 66, 1, 4, 2, 64, 16, 300, 1e4f, 1e-5f));
        assertTrue(e.getMessage().contains("not a multiple of heads"), e.getMessage());
        Shape unaligned = new Shape("unaligned", 48, 1, 4, 2, 64, 16, 300, 1e4f, 1e-5f);
        e = assertThrows(IllegalArgumentException.class, () -> SyntheticModel.toBytes(unaligned, GgmlType.Q4_0, 0));
        assertTrue(e.getMessage().contains("block size 32") && e.getMessage().contains("token_embd.weight"), e.getMessage());
        Path f16 = dir.resolve("unaligned-f16.gguf");
        SyntheticModel.write(unaligned, GgmlType.F16, 0, f16); // plain floats have no block constraint
        try (GgufFile g = GgufFile.open(f16)) {
            assertArrayEquals(new long[] {48, 300}, g.tensor("token_embd.weight").shape());
        }
    }

    /** Ggml shapes ({cols, rows}) of every tensor a synthetic Llama must have, in file order. */
    private static Map<String, long[]> expectedShapes(Shape s) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long dim = s.dim(), kv = (long) s.kvHeads() * (s.dim() / s.heads()), ffn = s.ffn();
        m.put("token_embd.weight", new long[] {dim, s.vocab()});
        m.put("output_norm.weight", new long[] {dim});
        for (int l = 0; l < s.layers(); l++) {
            String p = "blk." + l + ".";
            m.put(p + "attn_norm.weight", new long[] {dim});
            m.put(p + "attn_q.weight", new long[] {dim, dim});
            m.put(p + "attn_k.weight", new long[] {dim, kv});
            m.put(p + "attn_v.weight", new long[] {dim, kv});
            m.put(p + "attn_output.weight", new long[] {dim, dim});
            m.put(p + "ffn_norm.weight", new long[] {dim});
            m.put(p + "ffn_gate.weight", new long[] {dim, ffn});
            m.put(p + "ffn_up.weight", new long[] {dim, ffn});
            m.put(p + "ffn_down.weight", new long[] {ffn, dim});
        }
        return m;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * A minimal SentencePiece BPE encoder as llama.cpp's SPM tokenizer works (dummy-prefix space, spaces as
     * "▁", repeatedly merge the adjacent pair with the best-scoring vocabulary piece, byte fallback), only to
     * show the vocabulary is usable; the project's real tokenizer lives elsewhere.
     */
    private record SentencePiece(String[] tokens, float[] scores, Map<String, Integer> ids) {
        SentencePiece(String[] tokens, float[] scores) {
            this(tokens, scores, index(tokens));
        }

        private static Map<String, Integer> index(String[] tokens) {
            Map<String, Integer> ids = new HashMap<>();
            for (int i = 0; i < tokens.length; i++) ids.put(tokens[i], i);
            return ids;
        }

        int[] encode(String text) {
            String s = "▁" + text.replace(' ', '▁');
            List<String> symbols = new ArrayList<>();
            s.codePoints().forEach(cp -> symbols.add(Character.toString(cp)));
            while (true) {
                int best = -1;
                float bestScore = Float.NEGATIVE_INFINITY;
                for (int i = 0; i + 1 < symbols.size(); i++) {
                    Integer id = ids.get(symbols.get(i) + symbols.get(i + 1));
                    if (id != null && scores[id] > bestScore) {
                        best = i;
                        bestScore = scores[id];
                    }
                }
                if (best < 0) break;
                symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
            }
            List<Integer> out = new ArrayList<>();
            for (String sym : symbols) {
                Integer id = ids.get(sym);
                if (id != null) out.add(id);
                else for (byte b : sym.getBytes(StandardCharsets.UTF_8)) out.add(3 + (b & 0xff));
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        List<String> pieces(int[] ids) {
            List<String> p = new ArrayList<>();
            for (int id : ids) p.add(tokens[id]);
            return p;
        }

        String decode(int[] ids) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (int id : ids) {
                if (id >= 3 && id < 259) bytes.write(id - 3);
                else bytes.writeBytes(tokens[id].replace('▁', ' ').getBytes(StandardCharsets.UTF_8));
            }
            String text = bytes.toString(StandardCharsets.UTF_8);
            return text.startsWith(" ") ? text.substring(1) : text;
        }
    }
}
