package dev.kvfn.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

/**
 * Deterministic random-weight Llama models written as GGUF, for tests, benchmarks and the server's built-in
 * default. The same (shape, type, seed) always gives a byte-identical file: every matrix row draws from its own
 * SplitMix64 stream seeded from (seed, tensor name, row), so the result does not depend on thread count or
 * chunking. Weights are uniform with standard deviation 1/sqrt(cols) so activations stay finite; a llama's norms
 * are 1 and its embeddings are tied (no {@code output.weight}). The other {@link Arch architectures} carry what
 * sets them apart, random enough to change the output: Qwen 2's Q/K/V biases, Qwen 3's per-head Q/K norms (and a
 * head size apart from dim/heads), Phi-3's fused {@code attn_qkv} and gate+up {@code ffn_up} and its untied
 * {@code output.weight}; their norm weights are drawn around 1.
 */
public final class SyntheticModel {
    private SyntheticModel() {}

    /** Llama hyperparameters of a synthetic model. */
    public record Shape(String name, int dim, int layers, int heads, int kvHeads, int ffn, int context, int vocab,
                        float ropeTheta, float rmsEps) {

        public static final Shape TINY = new Shape("tiny", 64, 2, 4, 2, 192, 256, 512, 10000f, 1e-5f);
        public static final Shape LLAMA_135M = new Shape("llama-135m", 768, 12, 12, 4, 2048, 4096, 32000, 10000f, 1e-5f);
        public static final Shape LLAMA_1B = new Shape("llama-1b", 2048, 16, 32, 8, 8192, 4096, 32000, 10000f, 1e-5f);

        public Shape {
            if (name == null || name.isBlank()) throw new IllegalArgumentException("shape name must be non-empty");
            if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ffn <= 0 || context <= 0) {
                throw new IllegalArgumentException("shape " + name + ": all sizes must be positive");
            }
            if (dim % heads != 0) throw new IllegalArgumentException("shape " + name + ": dim " + dim + " is not a multiple of heads " + heads);
            if (heads % kvHeads != 0) throw new IllegalArgumentException("shape " + name + ": heads " + heads + " is not a multiple of kvHeads " + kvHeads);
            if ((dim / heads) % 2 != 0) throw new IllegalArgumentException("shape " + name + ": head size " + dim / heads + " must be even for RoPE");
            if (vocab <= SyntheticVocabulary.FIXED_TOKENS) {
                throw new IllegalArgumentException("shape " + name + ": vocab must exceed " + SyntheticVocabulary.FIXED_TOKENS + ", got " + vocab);
            }
            if (!(ropeTheta > 0) || !(rmsEps > 0)) throw new IllegalArgumentException("shape " + name + ": ropeTheta and rmsEps must be positive");
        }

        public static List<Shape> presets() { return List.of(TINY, LLAMA_135M, LLAMA_1B); }

        public static Shape byName(String name) {
            for (Shape s : presets()) {
                if (s.name.equals(name)) return s;
            }
            throw new IllegalArgumentException("unknown synthetic model shape '" + name + "'; valid shapes: "
                    + presets().stream().map(Shape::name).collect(Collectors.joining(", ")));
        }

        public int headSize() { return dim / heads; }

        public int kvDim() { return kvHeads * headSize(); }

        /** Number of weights (embedding, all layers, norms). */
        public long parameterCount() {
            long perLayer = 2L * dim * dim + 2L * kvDim() * dim + 3L * ffn * dim + 2L * dim;
            return (long) vocab * dim + layers * perLayer + dim;
        }
    }

    /** The GGUF architectures a synthetic model can be written as ({@code general.architecture}). */
    public enum Arch {
        LLAMA("llama"), QWEN2("qwen2"), QWEN3("qwen3"), PHI3("phi3");

        private final String ggufName;

        Arch(String ggufName) { this.ggufName = ggufName; }

        public String ggufName() { return ggufName; }

        /** Qwen 3 models set their head size apart from dim/heads: the synthetic one uses twice dim/heads. */
        public int headSize(Shape shape) {
            return this == QWEN3 ? 2 * shape.headSize() : shape.headSize();
        }

        public static Arch byName(String name) {
            for (Arch a : values()) {
                if (a.ggufName.equalsIgnoreCase(name)) return a;
            }
            throw new IllegalArgumentException("unknown synthetic model architecture '" + name + "'; valid: "
                    + Arrays.stream(values()).map(Arch::ggufName).collect(Collectors.joining(", ")));
        }
    }

    /** Types the synthetic weight matrices can be stored in (all of them in one; mixtures: {@link WeightTypes}). */
    public static final List<GgmlType> TYPES = WeightTypes.SINGLE_TYPES;

    /** The storage type named {@code name} (e.g. "Q8_0", case-insensitive), if synthetic models support it. */
    public static GgmlType typeByName(String name) {
        for (GgmlType t : TYPES) {
            if (t.name().equalsIgnoreCase(name)) return t;
        }
        throw new IllegalArgumentException("unsupported synthetic model type '" + name + "'; valid types: "
                + TYPES.stream().map(GgmlType::name).collect(Collectors.joining(", ")));
    }

    /** Writes the llama model to {@code out} (via a temporary sibling that is renamed into place). */
    public static void write(Shape shape, GgmlType type, long seed, Path out) throws IOException {
        write(Arch.LLAMA, shape, WeightTypes.uniform(type), seed, out);
    }

    /** Writes the llama model with each matrix in the type {@code types} gives it (e.g. {@link WeightTypes#Q4_K_M}). */
    public static void write(Shape shape, WeightTypes types, long seed, Path out) throws IOException {
        write(Arch.LLAMA, shape, types, seed, out);
    }

    /** Writes the model of architecture {@code arch} to {@code out} (via a temporary sibling renamed into place). */
    public static void write(Arch arch, Shape shape, GgmlType type, long seed, Path out) throws IOException {
        write(arch, shape, WeightTypes.uniform(type), seed, out);
    }

    /** Writes the model of architecture {@code arch}, each matrix in the type {@code types} gives it. */
    public static void write(Arch arch, Shape shape, WeightTypes types, long seed, Path out) throws IOException {
        try (ExecutorService pool = newPool()) {
            writer(arch, shape, types, seed, pool).write(out);
        }
    }

    /** The llama model's GGUF bytes (only sensible for small shapes). */
    public static byte[] toBytes(Shape shape, GgmlType type, long seed) {
        return toBytes(Arch.LLAMA, shape, WeightTypes.uniform(type), seed);
    }

    /** The llama model's GGUF bytes with each matrix in the type {@code types} gives it. */
    public static byte[] toBytes(Shape shape, WeightTypes types, long seed) {
        return toBytes(Arch.LLAMA, shape, types, seed);
    }

    /** The model's GGUF bytes (only sensible for small shapes). */
    public static byte[] toBytes(Arch arch, Shape shape, GgmlType type, long seed) {
        return toBytes(arch, shape, WeightTypes.uniform(type), seed);
    }

    /** The model's GGUF bytes with each matrix in the type {@code types} gives it. */
    public static byte[] toBytes(Arch arch, Shape shape, WeightTypes types, long seed) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ExecutorService pool = newPool()) {
            writer(arch, shape, types, seed, pool).write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The built-in default model, tiny/F32/seed 0, as GGUF bytes (about 0.5 MB, built in memory). */
    public static byte[] inMemoryTiny() {
        return toBytes(Shape.TINY, GgmlType.F32, 0);
    }

    private static Path tinyFile;

    /** The build's copy of {@link #inMemoryTiny()} (the pom's {@code builtin-model} execution), next to this class. */
    static final String TINY_RESOURCE = "builtin-tiny.gguf";

    /**
     * The built-in default model (tiny/F32/seed 0) as a temporary file, written once per JVM and deleted on
     * exit; for code that needs a path, such as {@link GgufFile#open}. The bytes come from the copy the build made
     * when it is on the class path (generating them costs a cold start about half a second), else are generated.
     */
    public static synchronized Path tinyTempFile() throws IOException {
        if (tinyFile == null || !Files.exists(tinyFile)) {
            Path file = Files.createTempFile("kvfn-synthetic-tiny-", ".gguf");
            file.toFile().deleteOnExit();
            try (var packaged = SyntheticModel.class.getResourceAsStream(TINY_RESOURCE)) {
                if (packaged != null) Files.copy(packaged, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                else Files.write(file, inMemoryTiny());
            }
            tinyFile = file;
        }
        return tinyFile;
    }

    /**
     * "kvfn-synthetic-qwen2-tiny-Q8_0": the architecture is named unless it is llama. Phi-3 is "phi": llama.cpp
     * applies Phi-3 vocabulary fix-ups to any model whose {@code general.name} contains "phi3" or "phi-3", and
     * those need Phi-3's special tokens, which the synthetic vocabulary does not have.
     */
    public static String modelName(Arch arch, Shape shape, GgmlType type) {
        return modelName(arch, shape, WeightTypes.uniform(type));
    }

    /** As {@link #modelName(Arch, Shape, GgmlType)}, with the mixture's name (e.g. "Q4_K_M"). */
    public static String modelName(Arch arch, Shape shape, WeightTypes types) {
        return switch (arch) {
            case LLAMA -> modelName(shape, types);
            case PHI3 -> "kvfn-synthetic-phi-" + shape.name() + "-" + types.name();
            default -> "kvfn-synthetic-" + arch.ggufName() + "-" + shape.name() + "-" + types.name();
        };
    }

    /** "kvfn-synthetic-llama-1b-Q8_0" */
    public static String modelName(Shape shape, GgmlType type) {
        return "kvfn-synthetic-" + shape.name() + "-" + type;
    }

    /** "kvfn-synthetic-llama-1b-Q4_K_M" */
    public static String modelName(Shape shape, WeightTypes types) {
        return "kvfn-synthetic-" + shape.name() + "-" + types.name();
    }

    /** llama.cpp's {@code llama_ftype} for a model whose matrices are all {@code type}. */
    public static int fileType(GgmlType type) {
        return WeightTypes.uniform(type).fileType();
    }

    /** The writer with all metadata and tensors declared; tensor bytes are generated on {@code pool} while writing. */
    static GgufWriter writer(Shape shape, GgmlType type, long seed, ExecutorService pool) {
        return writer(Arch.LLAMA, shape, WeightTypes.uniform(type), seed, pool);
    }

    static GgufWriter writer(Arch arch, Shape shape, WeightTypes types, long seed, ExecutorService pool) {
        int fileType = types.fileType();
        // each matrix's type by name and row length (K-quants fall back per matrix); Phi-3's output is untied
        WeightTypes.PerTensor type = types.perTensor(shape.layers(), shape.heads() / shape.kvHeads(), arch != Arch.PHI3);
        String a = arch.ggufName() + ".";
        int headSize = arch.headSize(shape);
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", arch.ggufName())
                .putString("general.name", modelName(arch, shape, types))
                .putUInt32("general.alignment", GgufFile.DEFAULT_ALIGNMENT)
                .putUInt32("general.file_type", fileType)
                .putUInt32("general.quantization_version", 2)
                .putUInt32(a + "vocab_size", shape.vocab())
                .putUInt32(a + "context_length", shape.context())
                .putUInt32(a + "embedding_length", shape.dim())
                .putUInt32(a + "block_count", shape.layers())
                .putUInt32(a + "feed_forward_length", shape.ffn())
                .putUInt32(a + "attention.head_count", shape.heads())
                .putUInt32(a + "attention.head_count_kv", shape.kvHeads())
                .putFloat32(a + "rope.freq_base", shape.ropeTheta())
                .putUInt32(a + "rope.dimension_count", headSize)
                .putFloat32(a + "attention.layer_norm_rms_epsilon", shape.rmsEps());
        if (arch == Arch.QWEN3) {
            w.putUInt32(a + "attention.key_length", headSize).putUInt32(a + "attention.value_length", headSize);
        }

        SyntheticVocabulary vocab = SyntheticVocabulary.of(shape.vocab());
        w.putString("tokenizer.ggml.model", "llama")
                .putString("tokenizer.ggml.pre", "default")
                .putStringArray("tokenizer.ggml.tokens", vocab.tokens())
                .putFloat32Array("tokenizer.ggml.scores", vocab.scores())
                .putIntArray("tokenizer.ggml.token_type", GgufWriter.ValueType.INT32, vocab.types())
                .putUInt32("tokenizer.ggml.bos_token_id", SyntheticVocabulary.BOS)
                .putUInt32("tokenizer.ggml.eos_token_id", SyntheticVocabulary.EOS)
                .putUInt32("tokenizer.ggml.unknown_token_id", SyntheticVocabulary.UNK)
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putBool("tokenizer.ggml.add_eos_token", false);

        int dim = shape.dim(), ffn = shape.ffn();
        int qDim = shape.heads() * headSize, kvDim = shape.kvHeads() * headSize;
        matrix(w, "token_embd.weight", shape.vocab(), dim, type, seed, pool);
        norm(w, arch, "output_norm.weight", dim, seed);
        if (arch == Arch.PHI3) matrix(w, "output.weight", shape.vocab(), dim, type, seed, pool);
        for (int l = 0; l < shape.layers(); l++) {
            String p = "blk." + l + ".";
            norm(w, arch, p + "attn_norm.weight", dim, seed);
            if (arch == Arch.PHI3) {
                matrix(w, p + "attn_qkv.weight", qDim + 2 * kvDim, dim, type, seed, pool);
            } else {
                matrix(w, p + "attn_q.weight", qDim, dim, type, seed, pool);
                matrix(w, p + "attn_k.weight", kvDim, dim, type, seed, pool);
                matrix(w, p + "attn_v.weight", kvDim, dim, type, seed, pool);
            }
            if (arch == Arch.QWEN2) {
                bias(w, p + "attn_q.bias", qDim, seed);
                bias(w, p + "attn_k.bias", kvDim, seed);
                bias(w, p + "attn_v.bias", kvDim, seed);
            }
            if (arch == Arch.QWEN3) {
                norm(w, arch, p + "attn_q_norm.weight", headSize, seed);
                norm(w, arch, p + "attn_k_norm.weight", headSize, seed);
            }
            matrix(w, p + "attn_output.weight", dim, qDim, type, seed, pool);
            norm(w, arch, p + "ffn_norm.weight", dim, seed);
            if (arch == Arch.PHI3) {
                matrix(w, p + "ffn_up.weight", 2 * ffn, dim, type, seed, pool); // gate rows, then up rows
            } else {
                matrix(w, p + "ffn_gate.weight", ffn, dim, type, seed, pool);
                matrix(w, p + "ffn_up.weight", ffn, dim, type, seed, pool);
            }
            matrix(w, p + "ffn_down.weight", dim, ffn, type, seed, pool);
        }
        return w;
    }

    /** A norm weight: 1 for llama (as before architectures were added), else uniform in [0.5, 1.5). */
    private static void norm(GgufWriter w, Arch arch, String name, int n, long seed) {
        if (arch == Arch.LLAMA) {
            ones(w, name, n);
            return;
        }
        float[] v = randomRows(mix(seed ^ mix(fnv1a(name))), 0, 1, n, 0.5f);
        for (int i = 0; i < n; i++) v[i] += 1f;
        w.addTensor(name, GgmlType.F32, new long[] {n}, Quantize.encode(v, GgmlType.F32));
    }

    /** A bias vector, uniform in [-0.5, 0.5): about half the spread of the projection it is added to. */
    private static void bias(GgufWriter w, String name, int n, long seed) {
        float[] v = randomRows(mix(seed ^ mix(fnv1a(name))), 0, 1, n, 0.5f);
        w.addTensor(name, GgmlType.F32, new long[] {n}, Quantize.encode(v, GgmlType.F32));
    }

    private static void ones(GgufWriter w, String name, int n) {
        float[] v = new float[n];
        Arrays.fill(v, 1f);
        w.addTensor(name, GgmlType.F32, new long[] {n}, Quantize.encode(v, GgmlType.F32));
    }

    private static void matrix(GgufWriter w, String name, int rows, int cols, WeightTypes.PerTensor types, long seed, ExecutorService pool) {
        long tensorSeed = mix(seed ^ mix(fnv1a(name)));
        GgmlType type = types.of(name, cols);
        w.addTensor(name, type, new long[] {cols, rows}, out -> writeRows(out, tensorSeed, rows, cols, type, pool));
    }

    // about 1 MB of floats per task: big enough to amortise scheduling, small enough to stay out of humongous regions
    private static final int CHUNK_ELEMENTS = 1 << 18;

    /** Generates and encodes row chunks in parallel and writes them in order, with a bounded number in flight. */
    private static void writeRows(OutputStream out, long tensorSeed, int rows, int cols, GgmlType type,
                                  ExecutorService pool) throws IOException {
        int rowsPerChunk = Math.max(1, CHUNK_ELEMENTS / cols);
        int inFlight = 2 * Runtime.getRuntime().availableProcessors();
        float scale = (float) Math.sqrt(3.0 / cols); // uniform(-s, s) has std s/sqrt(3) = 1/sqrt(cols)
        ArrayDeque<Future<byte[]>> pending = new ArrayDeque<>();
        try {
            for (int start = 0; start < rows; start += rowsPerChunk) {
                int from = start, to = Math.min(rows, start + rowsPerChunk);
                pending.add(pool.submit(() -> Quantize.encode(randomRows(tensorSeed, from, to, cols, scale), type)));
                if (pending.size() >= inFlight) out.write(pending.poll().get());
            }
            while (!pending.isEmpty()) out.write(pending.poll().get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while generating weights");
        } catch (ExecutionException e) {
            throw new IOException("generating weights failed: " + e.getCause(), e.getCause());
        } finally {
            for (Future<byte[]> f : pending) f.cancel(true);
        }
    }

    /** Rows {@code [from, to)} of a tensor: row r draws from a SplitMix64 stream seeded by (tensor seed, r). */
    static float[] randomRows(long tensorSeed, int from, int to, int cols, float scale) {
        float[] v = new float[(to - from) * cols];
        int i = 0;
        for (int r = from; r < to; r++) {
            long state = mix(tensorSeed + r * GOLDEN);
            for (int c = 0; c < cols; c += 2) {
                state += GOLDEN;
                long z = mix(state);
                // two 24-bit uniforms in [0, 1) from one 64-bit draw, mapped to [-scale, scale)
                v[i++] = ((z >>> 40) * 0x1p-24f * 2f - 1f) * scale;
                if (c + 1 < cols) v[i++] = (((z >>> 16) & 0xff_ffffL) * 0x1p-24f * 2f - 1f) * scale;
            }
        }
        return v;
    }

    private static final long GOLDEN = 0x9e3779b97f4a7c15L;

    /** SplitMix64's output function (Stafford variant 13). */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static long fnv1a(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    private static ExecutorService newPool() {
        int threads = Runtime.getRuntime().availableProcessors();
        return Executors.newFixedThreadPool(threads, Thread.ofPlatform().daemon().name("kvfn-synth-", 0).factory());
    }
}
