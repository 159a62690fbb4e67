package dev.kvfn.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which ggml type each weight matrix of a synthetic model is stored in: one type for all ({@link #uniform}), or one of
 * llama.cpp's K-quant mixtures ({@link #Q4_K_M}, {@link #Q5_K_M}), following {@code llama_tensor_get_type} in spirit:
 * <ul>
 * <li>the output matrix ({@code output.weight}, or {@code token_embd.weight} when the embeddings are tied) in Q6_K;
 * <li>{@code attn_v} and {@code ffn_down} in Q6_K in the layers llama.cpp gives "more bits" (the first and last
 *     eighth of the layers and every third one between), the base type elsewhere;
 * <li>every other matrix in the base type (Q4_K or Q5_K).
 * </ul>
 * A K-quant needs rows of a multiple of 256 weights; a matrix whose rows are not falls back, as in llama.cpp, to the
 * 32-weight type of about the same size: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0.
 *
 * @param name     "Q8_0", "Q4_K_M"
 * @param fileType llama.cpp's {@code llama_ftype} for {@code general.file_type}
 * @param base     the type of most matrices
 * @param mixture  whether output, attn_v and ffn_down get Q6_K as above
 */
public record WeightTypes(String name, int fileType, GgmlType base, boolean mixture) {

    public static final WeightTypes Q4_K_M = new WeightTypes("Q4_K_M", 15, GgmlType.Q4_K, true);
    public static final WeightTypes Q5_K_M = new WeightTypes("Q5_K_M", 17, GgmlType.Q5_K, true);

    /** Types one synthetic model can be stored in throughout. */
    public static final List<GgmlType> SINGLE_TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    public WeightTypes {
        if (name == null || base == null) throw new IllegalArgumentException("name and base type are required");
    }

    /** Every matrix in {@code type} (K-quants still fall back per matrix where a row is not a multiple of 256). */
    public static WeightTypes uniform(GgmlType type) {
        if (!SINGLE_TYPES.contains(type)) {
            throw new IllegalArgumentException("synthetic models cannot be written as " + type + "; valid types: " + String.join(", ", names()));
        }
        return new WeightTypes(type.name(), fileType(type), type, false);
    }

    /** "Q4_K_M", "q8_0": a single type or a mixture, case-insensitive. */
    public static WeightTypes byName(String name) {
        if (name != null) {
            for (WeightTypes m : List.of(Q4_K_M, Q5_K_M)) {
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
        names.add(Q4_K_M.name);
        names.add(Q5_K_M.name);
        return names;
    }

    private static final Pattern LAYER = Pattern.compile("^blk\\.(\\d+)\\.(.+)$");

    /**
     * The type of the matrix {@code tensor} (a GGUF tensor name) with rows of {@code cols} weights, in a model of
     * {@code layers} layers; {@code tiedOutput}: the token embedding is also the output matrix.
     */
    public GgmlType typeOf(String tensor, long cols, int layers, boolean tiedOutput) {
        GgmlType t = base;
        if (mixture) {
            Matcher m = LAYER.matcher(tensor);
            if (tensor.equals("output.weight") || (tiedOutput && tensor.equals("token_embd.weight"))) {
                t = GgmlType.Q6_K;
            } else if (m.matches() && (m.group(2).startsWith("attn_v.") || m.group(2).startsWith("ffn_down."))
                    && moreBits(Integer.parseInt(m.group(1)), layers)) {
                t = GgmlType.Q6_K;
            }
        }
        return fitting(t, cols);
    }

    /** The types of one model's matrices: {@link #typeOf} with the model's layer count and output tying fixed. */
    public PerTensor perTensor(int layers, boolean tiedOutput) {
        return new PerTensor(this, layers, tiedOutput);
    }

    /** {@link WeightTypes#typeOf} for one model. */
    public record PerTensor(WeightTypes types, int layers, boolean tiedOutput) {
        /** The type of matrix {@code tensor} with rows of {@code cols} weights; the error names the tensor. */
        public GgmlType of(String tensor, long cols) {
            try {
                return types.typeOf(tensor, cols, layers, tiedOutput);
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
