package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.engine.cpu.kernel.Matrix;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.model.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * The weights of a Llama model as kernels: each matrix is bound to its type's kernel once, here,
 * so the forward pass never dispatches on tensor types. Tensors are looked up by GGUF name (the
 * llama2.c loader uses the same names). Norm vectors are small and copied to float arrays.
 *
 * @param ropeFreqFactors per-pair frequency divisors from {@code rope_freqs.weight}, or null
 */
public record LlamaWeights(Matrix tokenEmbedding, Layer[] layers, float[] outputNorm, Matrix output,
                           float[] ropeFreqFactors) {

    /** One transformer block. */
    public record Layer(float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, Matrix wo,
                        float[] ffnNorm, Matrix gate, Matrix up, Matrix down) {}

    /**
     * Binds every tensor the config needs; a missing tensor, a wrong shape or an unsupported type
     * is one {@link ModelFormatException} naming {@code file} and the tensor.
     */
    public static LlamaWeights load(LlamaConfig c, Map<String, Tensor> tensors, Path file, WorkerPool pool) {
        var lookup = new Lookup(tensors, file, pool);
        int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim();
        Matrix embedding = lookup.matrix("token_embd.weight", dim, c.vocab());
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            layers[l] = new Layer(
                    lookup.vector(p + "attn_norm.weight", dim),
                    lookup.matrix(p + "attn_q.weight", dim, dim),
                    lookup.matrix(p + "attn_k.weight", dim, kvDim),
                    lookup.matrix(p + "attn_v.weight", dim, kvDim),
                    lookup.matrix(p + "attn_output.weight", dim, dim),
                    lookup.vector(p + "ffn_norm.weight", dim),
                    lookup.matrix(p + "ffn_gate.weight", dim, hidden),
                    lookup.matrix(p + "ffn_up.weight", dim, hidden),
                    lookup.matrix(p + "ffn_down.weight", hidden, dim));
        }
        float[] norm = lookup.vector("output_norm.weight", dim);
        Matrix output = c.tiedOutput() ? embedding : lookup.matrix("output.weight", dim, c.vocab());
        float[] freqFactors = tensors.containsKey("rope_freqs.weight")
                ? lookup.vector("rope_freqs.weight", c.ropeDim() / 2) : null;
        return new LlamaWeights(embedding, layers, norm, output, freqFactors);
    }

    private record Lookup(Map<String, Tensor> tensors, Path file, WorkerPool pool) {

        Tensor tensor(String name, long... shape) {
            Tensor t = tensors.get(name);
            if (t == null) throw new ModelFormatException(file, "missing tensor " + name);
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

        float[] vector(String name, int n) {
            Tensor t = tensor(name, n);
            float[] out = new float[n];
            Matrices.of(t, pool).row(0, out, 0);
            return out;
        }
    }
}
