package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.VectorMath;
import dev.kvfn.engine.cpu.kernel.WorkerPool;

/**
 * The whole Llama forward pass, in the spirit of llama2.c's {@code forward()}, for a batch of
 * tokens of ONE sequence at consecutive positions. Prefill pushes a chunk of prompt tokens
 * through every weight matrix at once (each weight row is read once per chunk, not per token);
 * decode is the same code with a batch of one.
 *
 * <p>Activations are laid out token-major: row {@code b} of a buffer holds token {@code b} of the
 * chunk. All buffers are allocated here, sized for {@link #maxChunk()} tokens; the per-token path
 * allocates nothing. Not thread-safe: one caller at a time (the engine thread).
 */
public final class Transformer {
    /** Prompt tokens pushed through the weights at once; bounds activation memory. */
    public static final int DEFAULT_MAX_CHUNK = 512;

    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final WorkerPool pool;
    private final int maxChunk;

    private final int dim, kvDim, hidden, heads, headSize, kvGroup, ropeHalf;
    private final float attentionScale;
    private final float[] ropeInvFreq;

    private final float[] x;        // residual stream      [chunk][dim]
    private final float[] xb;       // normed input / attention output [chunk][dim]
    private final float[] xb2;      // projection output    [chunk][dim]
    private final float[] q;        // queries              [chunk][dim]
    private final float[] k;        // keys                 [chunk][kvDim]
    private final float[] v;        // values               [chunk][kvDim]
    private final float[] hb;       // gate, then SwiGLU    [chunk][hidden]
    private final float[] hb2;      // up                   [chunk][hidden]
    private final float[] ropeCos;  // per token, per pair  [chunk][ropeHalf]
    private final float[] ropeSin;
    private final float[] logits;   // last position only   [vocab]

    // What the attention task works on; set before each forRange (a capturing lambda would allocate).
    private int attnLayer, attnStart, attnCount;
    private KvStore attnKv;
    private final WorkerPool.RangeTask attentionTask = this::attendRange;
    private final WorkerPool.RangeTask swigluTask = this::swigluRange;

    public Transformer(LlamaConfig config, LlamaWeights weights, WorkerPool pool) {
        this(config, weights, pool, DEFAULT_MAX_CHUNK);
    }

    public Transformer(LlamaConfig config, LlamaWeights weights, WorkerPool pool, int maxChunk) {
        if (maxChunk < 1) throw new IllegalArgumentException("maxChunk must be >= 1, got " + maxChunk);
        this.config = config;
        this.weights = weights;
        this.pool = pool;
        this.maxChunk = Math.min(maxChunk, config.contextLength());
        this.dim = config.dim();
        this.kvDim = config.kvDim();
        this.hidden = config.hiddenDim();
        this.heads = config.heads();
        this.headSize = config.headSize();
        this.kvGroup = config.heads() / config.kvHeads();
        this.ropeHalf = config.ropeDim() / 2;
        this.attentionScale = (float) (1.0 / Math.sqrt(headSize));
        this.ropeInvFreq = config.ropeInverseFrequencies(weights.ropeFreqFactors());
        int n = this.maxChunk;
        this.x = new float[n * dim];
        this.xb = new float[n * dim];
        this.xb2 = new float[n * dim];
        this.q = new float[n * dim];
        this.k = new float[n * kvDim];
        this.v = new float[n * kvDim];
        this.hb = new float[Math.multiplyExact(n, hidden)];
        this.hb2 = new float[n * hidden];
        this.ropeCos = new float[n * ropeHalf];
        this.ropeSin = new float[n * ropeHalf];
        this.logits = new float[config.vocab()];
    }

    public LlamaConfig config() { return config; }

    public int maxChunk() { return maxChunk; }

    /**
     * Runs {@code tokens[from .. from+count)} at positions {@code startPos ..} of the sequence held
     * in {@code kv}, writing their keys and values there, and returns the logits of the last one.
     * Longer inputs are processed in chunks of {@link #maxChunk()}.
     *
     * @return an internal buffer of {@code vocab} logits, valid until the next call
     */
    public float[] forward(int[] tokens, int from, int count, int startPos, KvStore kv) {
        if (count < 1 || from < 0 || from + count > tokens.length) {
            throw new IllegalArgumentException("token range [" + from + ", " + (from + count) + ") is not inside an array of "
                    + tokens.length);
        }
        if (startPos < 0 || startPos + count > kv.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit a sequence of " + kv.capacity() + " positions");
        }
        for (int done = 0; done < count; ) {
            int n = Math.min(maxChunk, count - done);
            forwardChunk(tokens, from + done, n, startPos + done, kv, done + n == count);
            done += n;
        }
        return logits;
    }

    private void forwardChunk(int[] tokens, int from, int n, int start, KvStore kv, boolean wantLogits) {
        for (int b = 0; b < n; b++) {
            int token = tokens[from + b];
            if (token < 0 || token >= config.vocab()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + config.vocab());
            }
            weights.tokenEmbedding().row(token, x, b * dim);
        }
        ropeTables(start, n);

        for (int l = 0; l < config.layers(); l++) {
            LlamaWeights.Layer layer = weights.layers()[l];

            // attention: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
            rmsNorm(x, xb, layer.attnNorm(), n);
            layer.wq().multiply(xb, q, n);
            layer.wk().multiply(xb, k, n);
            layer.wv().multiply(xb, v, n);
            for (int b = 0; b < n; b++) {
                rotate(q, b * dim, heads, b);
                rotate(k, b * kvDim, config.kvHeads(), b);
                kv.write(l, start + b, k, b * kvDim, v, b * kvDim);
            }
            attnLayer = l;
            attnStart = start;
            attnCount = n;
            attnKv = kv;
            pool.forRange(n * heads, attentionTask);
            attnKv = null;
            layer.wo().multiply(xb, xb2, n);
            add(x, xb2, n * dim);

            // feed-forward: x += W2 · (silu(W1·norm(x)) * W3·norm(x))
            rmsNorm(x, xb, layer.ffnNorm(), n);
            layer.gate().multiply(xb, hb, n);
            layer.up().multiply(xb, hb2, n);
            pool.forRange(n * hidden, swigluTask);
            layer.down().multiply(hb, xb, n);
            add(x, xb, n * dim);
        }

        if (wantLogits) {
            // Only the last position's next-token distribution is ever sampled.
            rmsNormRow(x, (n - 1) * dim, xb, 0, weights.outputNorm());
            weights.output().multiply(xb, logits, 1);
        }
    }

    /** cos/sin of every (token, pair) angle of this chunk, computed once and shared by all layers and heads. */
    private void ropeTables(int start, int n) {
        for (int b = 0; b < n; b++) {
            int pos = start + b;
            for (int i = 0; i < ropeHalf; i++) {
                float angle = pos * ropeInvFreq[i];
                ropeCos[b * ropeHalf + i] = (float) Math.cos(angle);
                ropeSin[b * ropeHalf + i] = (float) Math.sin(angle);
            }
        }
    }

    /** Rotates the first ropeDim dimensions of each of {@code count} heads starting at {@code off}. */
    private void rotate(float[] vec, int off, int count, int b) {
        int t = b * ropeHalf;
        boolean neox = config.ropeStyle() == LlamaConfig.RopeStyle.NEOX;
        for (int h = 0; h < count; h++) {
            int base = off + h * headSize;
            for (int i = 0; i < ropeHalf; i++) {
                int i0 = neox ? base + i : base + 2 * i;
                int i1 = neox ? base + i + ropeHalf : base + 2 * i + 1;
                float c = ropeCos[t + i], s = ropeSin[t + i];
                float v0 = vec[i0], v1 = vec[i1];
                vec[i0] = v0 * c - v1 * s;
                vec[i1] = v0 * s + v1 * c;
            }
        }
    }

    /**
     * Causal attention for the (token, head) pairs {@code [from, to)} of the current chunk, written
     * into {@code xb}. Softmax is computed online (running max and sum, rescaling the accumulated
     * output when the max grows), so no per-thread score buffer of context length is needed.
     */
    private void attendRange(int from, int to) {
        KvStore kv = attnKv;
        int layer = attnLayer;
        for (int pair = from; pair < to; pair++) {
            int b = pair / heads, h = pair % heads;
            int kvHead = h / kvGroup;
            int qo = b * dim + h * headSize;
            int last = attnStart + b;
            java.util.Arrays.fill(xb, qo, qo + headSize, 0f);
            float max = Float.NEGATIVE_INFINITY, sum = 0f;
            for (int t = 0; t <= last; t++) {
                float score = kv.keyDot(layer, t, kvHead, q, qo) * attentionScale;
                float w;
                if (score > max) {
                    float rescale = (float) Math.exp(max - score);
                    sum *= rescale;
                    for (int i = qo; i < qo + headSize; i++) xb[i] *= rescale;
                    max = score;
                    w = 1f;
                } else {
                    w = (float) Math.exp(score - max);
                }
                sum += w;
                kv.addValue(layer, t, kvHead, w, xb, qo);
            }
            float inv = 1f / sum;
            for (int i = qo; i < qo + headSize; i++) xb[i] *= inv;
        }
    }

    /** {@code hb = silu(hb) * hb2}: one exp per element, worth spreading over the pool for long chunks. */
    private void swigluRange(int from, int to) {
        for (int i = from; i < to; i++) {
            float g = hb[i];
            hb[i] = g / (1f + (float) Math.exp(-g)) * hb2[i];
        }
    }

    private void rmsNorm(float[] in, float[] out, float[] weight, int n) {
        for (int b = 0; b < n; b++) rmsNormRow(in, b * dim, out, b * dim, weight);
    }

    private void rmsNormRow(float[] in, int io, float[] out, int oo, float[] weight) {
        float ss = VectorMath.sumOfSquares(in, io, dim) / dim + config.rmsEps();
        float scale = (float) (1.0 / Math.sqrt(ss));
        for (int i = 0; i < dim; i++) out[oo + i] = weight[i] * (scale * in[io + i]);
    }

    private static void add(float[] acc, float[] delta, int n) {
        for (int i = 0; i < n; i++) acc[i] += delta[i];
    }
}
