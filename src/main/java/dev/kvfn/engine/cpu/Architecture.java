package dev.kvfn.engine.cpu;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The GGUF architectures the CPU engine runs, and what sets them apart, as data: which tensors a
 * block has, whether Q and K are normalized per head, how RoPE pairs dimensions. The forward pass
 * ({@link Transformer}) is the same for all of them; {@link LlamaWeights} binds the tensors each
 * one declares. Everything here follows llama.cpp's loader and graph for the same architecture name.
 *
 * @param ggufName       {@code general.architecture}, also the prefix of the model's metadata keys
 * @param ropeStyle      how llama.cpp rotates this architecture (its {@code llama_model_rope_type})
 * @param attentionBias  whether {@code attn_q/k/v.bias} are absent, may be present or must be present
 * @param qkNorm         per-head RMSNorm of Q and K before RoPE ({@code attn_q_norm}, {@code attn_k_norm})
 * @param fusedFeedForward gate and up are one {@code ffn_up} of twice the hidden size, gate first; Q, K
 *                       and V may be one {@code attn_qkv} (Q rows, then K, then V)
 */
public enum Architecture {
    LLAMA("llama", LlamaConfig.RopeStyle.NORMAL, Bias.OPTIONAL, false, false),
    QWEN2("qwen2", LlamaConfig.RopeStyle.NEOX, Bias.REQUIRED, false, false),
    QWEN3("qwen3", LlamaConfig.RopeStyle.NEOX, Bias.NONE, true, false),
    PHI3("phi3", LlamaConfig.RopeStyle.NEOX, Bias.NONE, false, true);

    /** Whether a block's Q, K and V projections carry bias vectors. */
    public enum Bias { NONE, OPTIONAL, REQUIRED }

    private final String ggufName;
    private final LlamaConfig.RopeStyle ropeStyle;
    private final Bias attentionBias;
    private final boolean qkNorm;
    private final boolean fusedFeedForward;

    Architecture(String ggufName, LlamaConfig.RopeStyle ropeStyle, Bias attentionBias, boolean qkNorm,
                 boolean fusedFeedForward) {
        this.ggufName = ggufName;
        this.ropeStyle = ropeStyle;
        this.attentionBias = attentionBias;
        this.qkNorm = qkNorm;
        this.fusedFeedForward = fusedFeedForward;
    }

    public String ggufName() { return ggufName; }

    public LlamaConfig.RopeStyle ropeStyle() { return ropeStyle; }

    public Bias attentionBias() { return attentionBias; }

    public boolean qkNorm() { return qkNorm; }

    public boolean fusedFeedForward() { return fusedFeedForward; }

    /** The metadata key {@code <arch>.<suffix>}, e.g. {@code qwen2.context_length}. */
    public String key(String suffix) {
        return ggufName + "." + suffix;
    }

    /** "llama, qwen2, qwen3, phi3" */
    public static String supportedNames() {
        return Arrays.stream(values()).map(Architecture::ggufName).collect(Collectors.joining(", "));
    }

    /** The architecture named {@code name} in a GGUF, or an exception naming it and the supported list. */
    public static Architecture byGgufName(String name) {
        for (Architecture a : values()) {
            if (a.ggufName.equals(name)) return a;
        }
        throw new IllegalArgumentException("general.architecture is " + (name == null ? "missing" : "'" + name + "'")
                + "; the CPU engine runs " + supportedNames());
    }
}
