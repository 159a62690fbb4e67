package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.engine.cpu.kernel.Matrix;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.model.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a model as kernels: each matrix is bound to its type's kernel once, here,
 * so the forward pass never dispatches on tensor types. Tensors are looked up by GGUF name (the
 * llama2.c loader uses the same names). Norm and bias vectors are small and copied to float arrays.
 * What an {@link Architecture} leaves out is null (a bias, a Q/K norm); fused tensors (Phi-3's
 * {@code attn_qkv} and gate+up {@code ffn_up}) are cut into row ranges of the same mapped bytes, so
 * the forward pass sees the same separate matrices for every architecture. A tensor the
 * architecture does not use is refused, as llama.cpp refuses a file with tensors it did not load:
 * running without it would compute a different model.
 *
 * @param ropeFreqFactors per-pair frequency divisors ({@code rope_freqs.weight}, or Phi-3's
 *                        {@code rope_factors_long/short.weight} as the context picks), or null
 */
public record LlamaWeights(Matrix tokenEmbedding, Layer[] layers, float[] outputNorm, Matrix output,
                           float[] ropeFreqFactors) {

    /**
     * One transformer block. The attention biases {@code bq, bk, bv, bo} are null where the model has
     * none; {@code qNorm, kNorm} are the per-head RMSNorm weights of Q and K (one head long), null where
     * the model has none.
     */
    public record Layer(float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, float[] bq, float[] bk, float[] bv,
                        float[] qNorm, float[] kNorm, Matrix wo, float[] bo,
                        float[] ffnNorm, Matrix gate, Matrix up, Matrix down) {

        /** A block without biases or Q/K norms (Llama as llama2.c and most GGUFs have it). */
        public Layer(float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, Matrix wo,
                     float[] ffnNorm, Matrix gate, Matrix up, Matrix down) {
            this(attnNorm, wq, wk, wv, null, null, null, null, null, wo, null, ffnNorm, gate, up, down);
        }
    }

    /**
     * Binds every tensor the config needs; a missing tensor, a wrong shape, an unsupported type or a
     * tensor the architecture does not use is one {@link ModelFormatException} naming {@code file} and the tensor.
     */
    public static LlamaWeights load(LlamaConfig c, Map<String, Tensor> tensors, Path file, WorkerPool pool) {
        var lookup = new Lookup(tensors, file, pool, new HashSet<>());
        Architecture arch = c.architecture();
        int dim = c.dim(), qDim = c.qDim(), kvDim = c.kvDim(), hidden = c.hiddenDim();
        Matrix embedding = lookup.matrix("token_embd.weight", dim, c.vocab());
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            Matrix wq, wk, wv;
            if (arch.fusedFeedForward() && tensors.containsKey(p + "attn_qkv.weight")) {
                Tensor qkv = lookup.tensor(p + "attn_qkv.weight", dim, qDim + 2L * kvDim);
                wq = lookup.rows(qkv, 0, qDim);
                wk = lookup.rows(qkv, qDim, kvDim);
                wv = lookup.rows(qkv, qDim + kvDim, kvDim);
            } else {
                wq = lookup.matrix(p + "attn_q.weight", dim, qDim);
                wk = lookup.matrix(p + "attn_k.weight", dim, kvDim);
                wv = lookup.matrix(p + "attn_v.weight", dim, kvDim);
            }
            boolean biases = switch (arch.attentionBias()) {
                case NONE -> false;
                case REQUIRED -> true;
                case OPTIONAL -> tensors.containsKey(p + "attn_q.bias");
            };
            Matrix gate, up;
            if (arch.fusedFeedForward()) {
                Tensor gateUp = lookup.tensor(p + "ffn_up.weight", dim, 2L * hidden);
                gate = lookup.rows(gateUp, 0, hidden);
                up = lookup.rows(gateUp, hidden, hidden);
            } else {
                gate = lookup.matrix(p + "ffn_gate.weight", dim, hidden);
                up = lookup.matrix(p + "ffn_up.weight", dim, hidden);
            }
            layers[l] = new Layer(
                    lookup.vector(p + "attn_norm.weight", dim),
                    wq, wk, wv,
                    biases ? lookup.vector(p + "attn_q.bias", qDim) : null,
                    biases ? lookup.vector(p + "attn_k.bias", kvDim) : null,
                    biases ? lookup.vector(p + "attn_v.bias", kvDim) : null,
                    arch.qkNorm() ? lookup.vector(p + "attn_q_norm.weight", c.headSize()) : null,
                    arch.qkNorm() ? lookup.vector(p + "attn_k_norm.weight", c.headSize()) : null,
                    lookup.matrix(p + "attn_output.weight", qDim, dim),
                    arch.attentionBias() == Architecture.Bias.OPTIONAL && tensors.containsKey(p + "attn_output.bias")
                            ? lookup.vector(p + "attn_output.bias", dim) : null,
                    lookup.vector(p + "ffn_norm.weight", dim),
                    gate, up,
                    lookup.matrix(p + "ffn_down.weight", hidden, dim));
        }
        float[] norm = lookup.vector("output_norm.weight", dim);
        Matrix output = c.tiedOutput() ? embedding : lookup.matrix("output.weight", dim, c.vocab());
        float[] freqFactors = lookup.optionalVector("rope_freqs.weight", c.ropeDim() / 2);
        if (arch == Architecture.PHI3) {
            // llama.cpp picks one of the pair by the context it runs with; the other is loaded, unused.
            float[] longFactors = lookup.optionalVector("rope_factors_long.weight", c.ropeDim() / 2);
            float[] shortFactors = lookup.optionalVector("rope_factors_short.weight", c.ropeDim() / 2);
            if (freqFactors == null) freqFactors = c.longRopeFactors() ? longFactors : shortFactors;
        }
        lookup.refuseUnused(arch);
        return new LlamaWeights(embedding, layers, norm, output, freqFactors);
    }

    private record Lookup(Map<String, Tensor> tensors, Path file, WorkerPool pool, Set<String> used) {

        Tensor tensor(String name, long... shape) {
            Tensor t = tensors.get(name);
            if (t == null) throw new ModelFormatException(file, "missing tensor " + name);
            used.add(name);
            // A GGUF writer may keep trailing 1-sized dimensions; they do not change the layout.
            long[] actual = t.shape();
            int n = actual.length;
            while (n > shape.length && actual[n - 1] == 1) n--;
            if (!Arrays.equals(Arrays.copyOf(actual, n), shape)) {
                throw new ModelFormatException(file, "tensor " + name + " has shape " + Arrays.toString(actual)
                        + ", expected " + Arrays.toString(shape) + " (ggml order: inputs first)");
            }
            if (!t.type().supported()) {
                throw new ModelFormatException(file, "tensor " + name + " has type " + t.type()
                        + ", which the CPU engine does not support (supported: " + GgmlType.supportedNames() + ")");
            }
            return t;
        }

        Matrix matrix(String name, int cols, int rows) {
            Tensor t = tensor(name, cols, rows);
            try {
                return Matrices.of(t, pool);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(file, "tensor " + name + ": " + e.getMessage(), e);
            }
        }

        /** Rows {@code [first, first + count)} of a fused matrix, as a matrix over the same bytes. */
        Matrix rows(Tensor fused, int first, int count) {
            long rowBytes = fused.type().bytesFor(fused.cols());
            var part = new Tensor(fused.name() + "[" + first + ".." + (first + count) + ")", fused.type(),
                    new long[] {fused.cols(), count}, fused.data().asSlice(first * rowBytes, count * rowBytes));
            try {
                return Matrices.of(part, pool);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(file, "tensor " + fused.name() + ": " + e.getMessage(), e);
            }
        }

        float[] optionalVector(String name, int n) {
            return tensors.containsKey(name) ? vector(name, n) : null;
        }

        void refuseUnused(Architecture arch) {
            for (String name : tensors.keySet()) {
                if (!used.contains(name)) {
                    throw new ModelFormatException(file, "tensor " + name + " is not part of the '" + arch.ggufName()
                            + "' architecture as the CPU engine runs it; refusing rather than ignoring it");
                }
            }
        }

        float[] vector(String name, int n) {
            Tensor t = tensor(name, n);
            float[] out = new float[n];
            Matrices.of(t, pool).row(0, out, 0);
            return out;
        }
    }
}
