package dev.kvfn.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which ggml type each weight matrix of a synthetic model is stored in: one type for all ({@link #uniform}), or one of
 * llama.cpp's K-quant mixtures, following {@code llama_tensor_get_type} (llama-quant.cpp) for dense models without an
 * importance matrix. Every mixture stores the output matrix ({@code output.weight}, or {@code token_embd.weight} when
 * the embeddings are tied) in Q6_K; then, per {@link Mixture}:
 * <ul>
 * <li>{@link #Q4_K_M}, {@link #Q5_K_M}: {@code attn_v} and {@code ffn_down} in Q6_K in the layers llama.cpp gives "more
 *     bits" (the first and last eighth of the layers and every third one between);
 * <li>{@link #Q3_K_S}: nothing else;
 * <li>{@link #Q3_K_M}: {@code attn_v} in Q5_K in layers 0 and 1, Q4_K after; {@code ffn_down} in Q5_K in the first
 *     sixteenth of the layers, Q4_K after; {@code attn_output} and {@code attn_qkv} in Q4_K;
 * <li>{@link #Q3_K_L}: {@code attn_v}, {@code ffn_down} and {@code attn_output} in Q5_K, {@code attn_qkv} in Q4_K;
 * <li>{@link #Q2_K_M}: {@code attn_v} in Q4_K where 4 or more query heads share a KV head, Q3_K otherwise;
 *     {@code ffn_down} and {@code attn_output} in Q3_K.
 * </ul>
 * Every other matrix is in the base type. A K-quant needs rows of a multiple of 256 weights; a matrix whose rows are
 * not falls back, as in llama.cpp, to a 32-weight type: Q2_K and Q3_K to IQ4_NL, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to
 * Q8_0.
 *
 * <p>A bare tensor type name ("Q4_K", "Q2_K") means every matrix in that type, although llama-quantize takes "Q4_K" and
 * "Q3_K" as aliases of Q4_K_M and Q3_K_M and its "Q2_K" is a mixture: that mixture is {@link #Q2_K_M} here, after the
 * name llama.cpp itself gives its file type 10 ("Q2_K - Medium").
 *
 * @param name     "Q8_0", "Q4_K_M"
 * @param fileType llama.cpp's {@code llama_ftype} for {@code general.file_type}
 * @param base     the type of most matrices
 * @param mixture  which matrices get another type than {@code base}, as above
 */
public record WeightTypes(String name, int fileType, GgmlType base, Mixture mixture) {

    /** llama.cpp's per-tensor rules of one K-quant file type ({@link #NONE}: every matrix in the base type). */
    public enum Mixture { NONE, MORE_BITS_Q6_K, Q3_K_S, Q3_K_M, Q3_K_L, Q2_K }

    public static final WeightTypes Q4_K_M = new WeightTypes("Q4_K_M", 15, GgmlType.Q4_K, Mixture.MORE_BITS_Q6_K);
    public static final WeightTypes Q5_K_M = new WeightTypes("Q5_K_M", 17, GgmlType.Q5_K, Mixture.MORE_BITS_Q6_K);
    public static final WeightTypes Q3_K_S = new WeightTypes("Q3_K_S", 11, GgmlType.Q3_K, Mixture.Q3_K_S);
    public static final WeightTypes Q3_K_M = new WeightTypes("Q3_K_M", 12, GgmlType.Q3_K, Mixture.Q3_K_M);
    public static final WeightTypes Q3_K_L = new WeightTypes("Q3_K_L", 13, GgmlType.Q3_K, Mixture.Q3_K_L);
    public static final WeightTypes Q2_K_M = new WeightTypes("Q2_K_M", 10, GgmlType.Q2_K, Mixture.Q2_K);

    /** The mixtures, in the order {@link #names} lists them. */
    public static final List<WeightTypes> MIXTURES = List.of(Q4_K_M, Q5_K_M, Q3_K_S, Q3_K_M, Q3_K_L, Q2_K_M);

    /** Types one synthetic model can be stored in throughout. */
    public static final List<GgmlType> SINGLE_TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K,
            GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    public WeightTypes {
        if (name == null || base == null || mixture == null) throw new IllegalArgumentException("name, base type and mixture are required");
    }

    /** Every matrix in {@code type} (K-quants still fall back per matrix where a row is not a multiple of 256). */
    public static WeightTypes uniform(GgmlType type) {
        if (!SINGLE_TYPES.contains(type)) {
            throw new IllegalArgumentException("synthetic models cannot be written as " + type + "; valid types: " + String.join(", ", names()));
        }
        return new WeightTypes(type.name(), fileType(type), type, Mixture.NONE);
    }

    /** "Q4_K_M", "q8_0": a single type or a mixture, case-insensitive. */
    public static WeightTypes byName(String name) {
        if (name != null) {
            for (WeightTypes m : MIXTURES) {
                if (m.name.equalsIgnoreCase(name)) return m;
            }
            for (GgmlType t : SINGLE_TYPES) {
                if (t.name().equalsIgnoreCase(name)) return uniform(t);
            }
        }
        throw new IllegalArgumentException("unsupported synthetic model type '" + name + "'; valid types: " + String.join(", ", names()));
    }

    /** The valid names, single types first. */
    public static List<String> names() {
        List<String> names = new ArrayList<>();
        for (GgmlType t : SINGLE_TYPES) names.add(t.name());
        for (WeightTypes m : MIXTURES) names.add(m.name);
        return names;
    }

    private static final Pattern LAYER = Pattern.compile("^blk\\.(\\d+)\\.(.+)$");

    /**
     * The type of the matrix {@code tensor} (a GGUF tensor name) with rows of {@code cols} weights, in a model of
     * {@code layers} layers whose query heads share each KV head {@code gqa} at a time; {@code tiedOutput}: the token
     * embedding is also the output matrix.
     */
    public GgmlType typeOf(String tensor, long cols, int layers, int gqa, boolean tiedOutput) {
        GgmlType t = base;
        if (mixture != Mixture.NONE) {
            Matcher m = LAYER.matcher(tensor);
            if (tensor.equals("output.weight") || (tiedOutput && tensor.equals("token_embd.weight"))) {
                t = GgmlType.Q6_K;
            } else if (m.matches()) {
                t = layerType(m.group(2), Integer.parseInt(m.group(1)), layers, gqa);
            }
        }
        return fitting(t, cols);
    }

    /** The type of the layer matrix {@code role} ("attn_v.weight") in layer {@code layer}: the rules on this class. */
    private GgmlType layerType(String role, int layer, int layers, int gqa) {
        boolean attnV = role.startsWith("attn_v."), ffnDown = role.startsWith("ffn_down.");
        boolean attnOutput = role.startsWith("attn_output."), attnQkv = role.startsWith("attn_qkv.");
        return switch (mixture) {
            case NONE, Q3_K_S -> base;
            case MORE_BITS_Q6_K -> (attnV || ffnDown) && moreBits(layer, layers) ? GgmlType.Q6_K : base;
            case Q3_K_M -> attnV ? (layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K)
                    : ffnDown ? (layer < layers / 16 ? GgmlType.Q5_K : GgmlType.Q4_K)
                    : attnOutput || attnQkv ? GgmlType.Q4_K : base;
            case Q3_K_L -> attnV || ffnDown || attnOutput ? GgmlType.Q5_K : attnQkv ? GgmlType.Q4_K : base;
            case Q2_K -> attnV ? (gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K) : ffnDown || attnOutput ? GgmlType.Q3_K : base;
        };
    }

    /**
     * The types of one model's matrices: {@link #typeOf} with the model's layer count, grouping of query heads per KV
     * head and output tying fixed.
     */
    public PerTensor perTensor(int layers, int gqa, boolean tiedOutput) {
        return new PerTensor(this, layers, gqa, tiedOutput);
    }

    /** {@link WeightTypes#typeOf} for one model. */
    public record PerTensor(WeightTypes types, int layers, int gqa, boolean tiedOutput) {
        /** The type of matrix {@code tensor} with rows of {@code cols} weights; the error names the tensor. */
        public GgmlType of(String tensor, long cols) {
            try {
                return types.typeOf(tensor, cols, layers, gqa, tiedOutput);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("tensor " + tensor + ": " + e.getMessage(), e);
            }
        }
    }

    /** llama.cpp's {@code use_more_bits}: the first and last eighth of the layers, and every third layer between. */
    static boolean moreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /** {@code type}, or llama.cpp's fallback where a row of {@code cols} weights is not a whole number of its blocks. */
    static GgmlType fitting(GgmlType type, long cols) {
        if (cols % type.blockSize() == 0) return type;
        GgmlType fallback = switch (type) {
            case Q2_K, Q3_K -> GgmlType.IQ4_NL;
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> type;
        };
        if (cols % fallback.blockSize() != 0) {
            throw new IllegalArgumentException("rows of " + cols + " weights are not a multiple of the " + type + " block size "
                    + type.blockSize() + (fallback != type ? " nor of its fallback " + fallback + "'s " + fallback.blockSize() : ""));
        }
        return fallback;
    }

    /** llama.cpp's {@code llama_ftype} for a model whose matrices are all {@code type}. */
    static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10; // no llama.cpp file type is all Q2_K: that of its Q2_K mixture
            case Q3_K -> 11; // Q3_K_S
            case Q4_K -> 14; // Q4_K_S: "mostly Q4_K"
            case Q5_K -> 16; // Q5_K_S
            case Q6_K -> 18;
            case IQ4_NL -> 25;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("no llama_ftype for " + type);
        };
    }

    @Override
    public String toString() {
        return name.toUpperCase(Locale.ROOT);
    }
}
