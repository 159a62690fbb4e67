package dev.kvfn.engine.cpu;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFormatException;

/**
 * The hyper-parameters of a Llama-family model, read from GGUF metadata or a llama2.c header.
 *
 * @param architecture    which GGUF architecture this is: what tensors a block has (see {@link Architecture})
 * @param headSize        dimensions per attention head; {@code dim / heads} unless the GGUF says otherwise
 *                        ({@code <arch>.attention.key_length}, e.g. Qwen 3)
 * @param ropeDim         leading dimensions of each head that RoPE rotates (the rest pass through)
 * @param ropeScaling     null when positions are used as they are
 * @param ropeAttnFactor  multiplies every RoPE cos and sin ({@code <arch>.rope.scaling.attn_factor}, llama.cpp's
 *                        {@code attn_factor}); 1 for most models
 * @param ropeOriginalContext the context the model was pre-trained with; a longer context selects
 *                        {@code rope_factors_long} over {@code rope_factors_short} (Phi-3 long-rope models)
 * @param tiedOutput      the classifier is the token embedding (no {@code output.weight})
 */
public record LlamaConfig(Architecture architecture, int dim, int hiddenDim, int layers, int heads, int kvHeads,
                          int headSize, int vocab, int contextLength, float rmsEps, float ropeTheta, int ropeDim,
                          RopeStyle ropeStyle, RopeScaling ropeScaling, float ropeAttnFactor, int ropeOriginalContext,
                          boolean tiedOutput) {

    /** Which dimensions RoPE pairs up. */
    public enum RopeStyle {
        /** Adjacent pairs (2i, 2i+1): llama2.c and llama.cpp's LLAMA_ROPE_TYPE_NORM. */
        NORMAL,
        /** Halves (i, i + ropeDim/2): GPT-NeoX and HF-layout weights. */
        NEOX
    }

    /**
     * Position scaling for long-context models, as llama.cpp applies it.
     *
     * @param type                 LINEAR divides every frequency by {@code factor}; LLAMA3 scales only the
     *                             low frequencies, smoothly between the two wavelength bounds
     * @param originalContext      the context the model was pre-trained with (LLAMA3 only)
     */
    public record RopeScaling(Type type, float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {
        public enum Type { LINEAR, LLAMA3 }

        public RopeScaling {
            if (type == null) throw new IllegalArgumentException("rope scaling type must not be null");
            if (!(factor > 0)) throw new IllegalArgumentException("rope scaling factor must be > 0, got " + factor);
            if (type == Type.LLAMA3 && !(highFreqFactor > lowFreqFactor && lowFreqFactor > 0 && originalContext > 0)) {
                throw new IllegalArgumentException("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and"
                        + " an original context > 0, got " + lowFreqFactor + ", " + highFreqFactor + ", " + originalContext);
            }
        }
    }

    public LlamaConfig {
        if (architecture == null) throw new IllegalArgumentException("architecture must not be null");
        require(dim > 0 && hiddenDim > 0 && layers > 0 && vocab > 0 && contextLength > 0,
                "dimensions must be positive: dim " + dim + ", hidden " + hiddenDim + ", layers " + layers
                        + ", vocab " + vocab + ", context " + contextLength);
        require(heads > 0 && headSize > 0, "heads " + heads + " and head size " + headSize + " must be positive");
        require(kvHeads > 0 && heads % kvHeads == 0, "kv heads " + kvHeads + " must divide heads " + heads);
        require(ropeDim > 0 && ropeDim % 2 == 0 && ropeDim <= headSize,
                "rope dimension " + ropeDim + " must be even and at most the head size " + headSize);
        require(rmsEps > 0 && ropeTheta > 0, "rms eps " + rmsEps + " and rope theta " + ropeTheta + " must be > 0");
        require(ropeAttnFactor > 0 && Float.isFinite(ropeAttnFactor), "rope attn factor " + ropeAttnFactor + " must be > 0");
        require(ropeOriginalContext > 0, "rope original context " + ropeOriginalContext + " must be > 0");
        if (ropeStyle == null) throw new IllegalArgumentException("rope style must not be null");
    }

    /** A plain Llama: head size {@code dim / heads}, no RoPE attention factor, trained at {@code contextLength}. */
    public LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocab, int contextLength,
                       float rmsEps, float ropeTheta, int ropeDim, RopeStyle ropeStyle, RopeScaling ropeScaling,
                       boolean tiedOutput) {
        this(Architecture.LLAMA, dim, hiddenDim, layers, heads, kvHeads, headSizeOf(dim, heads), vocab, contextLength,
                rmsEps, ropeTheta, ropeDim, ropeStyle, ropeScaling, 1f, contextLength, tiedOutput);
    }

    private static int headSizeOf(int dim, int heads) {
        require(heads > 0 && dim % heads == 0, "heads " + heads + " must divide dim " + dim);
        return dim / heads;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("invalid Llama config: " + message);
    }

    /** Width of all query heads together (the input of {@code attn_output}); {@code dim} unless the head size is set apart. */
    public int qDim() { return heads * headSize; }

    public int kvDim() { return kvHeads * headSize; }

    /** Phi-3 long-rope models: whether this context needs {@code rope_factors_long} (as llama.cpp decides per context). */
    public boolean longRopeFactors() { return contextLength > ropeOriginalContext; }

    /** The same model with a shorter context (to bound KV memory); never longer than trained. */
    public LlamaConfig withContextLength(int limit) {
        if (limit < 1) throw new IllegalArgumentException("context limit must be >= 1, got " + limit);
        return new LlamaConfig(architecture, dim, hiddenDim, layers, heads, kvHeads, headSize, vocab,
                Math.min(limit, contextLength), rmsEps, ropeTheta, ropeDim, ropeStyle, ropeScaling, ropeAttnFactor,
                ropeOriginalContext, tiedOutput);
    }

    /** llama2.c checkpoints: no metadata beyond the header, so run.c's constants apply. */
    public static LlamaConfig fromLlama2c(Llama2cCheckpoint.Header h) {
        return new LlamaConfig(h.dim(), h.hiddenDim(), h.layers(), h.heads(), h.kvHeads(), h.vocab(), h.seqLen(),
                1e-5f, 10000f, h.headSize(), RopeStyle.NORMAL, null, h.sharedClassifier());
    }

    /**
     * The config of a GGUF of any {@link Architecture}, read from its {@code <arch>.*} keys with llama.cpp's
     * defaults (rope base 10000, head size {@code dim / heads}, rope dimensions the head size, the architecture's
     * rope style, an untied classifier only where {@code output.weight} exists). An architecture outside the
     * supported list is refused here, at start-up, naming it and the list. Keys llama.cpp reads but ignores for
     * these architectures are ignored here too: {@code attention.sliding_window} (llama.cpp's {@code llama} and
     * {@code qwen2} never read it; its {@code phi3} reads it and switches the window off).
     */
    public static LlamaConfig fromGguf(GgufFile f) {
        Architecture arch;
        try {
            arch = Architecture.byGgufName(f.string("general.architecture", null));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.path(), e.getMessage(), e);
        }
        int dim = intKey(f, arch.key("embedding_length"));
        int heads = intKey(f, arch.key("attention.head_count"));
        int kvHeads = f.has(arch.key("attention.head_count_kv")) ? intKey(f, arch.key("attention.head_count_kv")) : heads;
        if (heads == 0 || dim % heads != 0 && !f.has(arch.key("attention.key_length"))) {
            throw new ModelFormatException(f.path(), arch.key("attention.head_count") + " = " + heads
                    + " does not divide " + arch.key("embedding_length") + " = " + dim + " and no key_length is given");
        }
        int headSize = f.has(arch.key("attention.key_length")) ? intKey(f, arch.key("attention.key_length")) : dim / heads;
        int valueSize = f.has(arch.key("attention.value_length")) ? intKey(f, arch.key("attention.value_length")) : headSize;
        if (valueSize != headSize) {
            throw new ModelFormatException(f.path(), "attention key length " + headSize + " and value length " + valueSize
                    + " differ; the CPU engine needs them equal");
        }
        int vocab;
        if (f.has("tokenizer.ggml.tokens")) vocab = f.array("tokenizer.ggml.tokens", String[].class).length;
        else if (f.tensors().containsKey("output.weight")) vocab = f.tensor("output.weight").rows();
        else vocab = f.tensor("token_embd.weight").rows();
        int context = intKey(f, arch.key("context_length"));
        RopeScaling scaling = null;
        String type = f.string(arch.key("rope.scaling.type"), "none");
        float factor = f.real(arch.key("rope.scaling.factor"), 1f);
        switch (type) {
            case "none" -> { }
            case "linear" -> scaling = factor == 1f ? null : new RopeScaling(RopeScaling.Type.LINEAR, factor, 0, 0, 0);
            case "llama3" -> scaling = new RopeScaling(RopeScaling.Type.LLAMA3, factor,
                    f.real(arch.key("rope.scaling.low_freq_factor"), 1f), f.real(arch.key("rope.scaling.high_freq_factor"), 4f),
                    intKey(f, arch.key("rope.scaling.original_context_length")));
            default -> throw new ModelFormatException(f.path(), arch.key("rope.scaling.type") + " '" + type
                    + "' is not supported (none, linear, llama3)");
        }
        int originalContext = f.has(arch.key("rope.scaling.original_context_length"))
                ? intKey(f, arch.key("rope.scaling.original_context_length")) : context;
        try {
            return new LlamaConfig(arch, dim, intKey(f, arch.key("feed_forward_length")), intKey(f, arch.key("block_count")),
                    heads, kvHeads, headSize, vocab, context,
                    f.real(arch.key("attention.layer_norm_rms_epsilon"), 1e-5f), f.real(arch.key("rope.freq_base"), 10000f),
                    f.has(arch.key("rope.dimension_count")) ? intKey(f, arch.key("rope.dimension_count")) : headSize,
                    arch.ropeStyle(), scaling, f.real(arch.key("rope.scaling.attn_factor"), 1f), originalContext,
                    !f.tensors().containsKey("output.weight"));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.path(), e.getMessage(), e);
        }
    }

    private static int intKey(GgufFile f, String key) {
        long v = f.integer(key);
        if (v < 0 || v > Integer.MAX_VALUE) throw new ModelFormatException(f.path(), "metadata " + key + " = " + v + " is out of range");
        return (int) v;
    }

    /**
     * Per pair {@code i < ropeDim/2}, the angle RoPE turns per position: {@code theta^(-2i/ropeDim)},
     * with this config's scaling, then divided by {@code freqFactors[i]} when the model ships a
     * {@code rope_freqs} tensor (which already encodes any Llama-3 scaling, so it replaces it).
     */
    public float[] ropeInverseFrequencies(float[] freqFactors) {
        int half = ropeDim / 2;
        if (freqFactors != null && freqFactors.length != half) {
            throw new IllegalArgumentException("rope_freqs has " + freqFactors.length + " factors, expected " + half);
        }
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            // float math like run.c, so the llama2.c reference output is reproduced bit-for-bit where it matters
            float freq = (float) (1.0 / Math.pow(ropeTheta, (2 * i) / (float) ropeDim));
            if (freqFactors != null) {
                freq /= freqFactors[i];
            } else if (ropeScaling != null) {
                freq = switch (ropeScaling.type()) {
                    case LINEAR -> freq / ropeScaling.factor();
                    case LLAMA3 -> llama3Scaled(freq, ropeScaling);
                };
            }
            inv[i] = freq;
        }
        return inv;
    }

    private static float llama3Scaled(float freq, RopeScaling s) {
        double wavelength = 2 * Math.PI / freq;
        double lowWavelength = s.originalContext() / (double) s.lowFreqFactor();
        double highWavelength = s.originalContext() / (double) s.highFreqFactor();
        if (wavelength < highWavelength) return freq;
        if (wavelength > lowWavelength) return freq / s.factor();
        double smooth = (s.originalContext() / wavelength - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
        return (float) ((1 - smooth) * freq / s.factor() + smooth * freq);
    }
}
