package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.VectorMath;
import dev.kvfn.engine.cpu.kernel.WorkerPool;

/**
 * The whole Llama-family forward pass, in the spirit of llama2.c's {@code forward()}, for one step of
 * token rows that may belong to SEVERAL sequences. Row {@code i} is token {@code tokens[i]} at
 * position {@code positions[i]} of the sequence whose keys and values live in {@code stores[i]}.
 * Every weight matrix multiplies all rows of the step at once, so each weight row is streamed once
 * per step whether the rows are one prompt chunk, one decode token of each of 16 streams, or a mix
 * (continuous batching). Attention is the only per-sequence part: row {@code i} attends over
 * positions {@code [0, positions[i]]} of its own store.
 *
 * <p>Every {@link Architecture} runs this same pass; what differs is data in {@link LlamaWeights}:
 * Q/K/V biases (Qwen 2) and per-head Q/K RMSNorm (Qwen 3) are applied where the block has them,
 * fused tensors (Phi-3) arrive already cut into the separate matrices, and the rope style, head
 * size and RoPE factors come from {@link LlamaConfig}.
 *
 * <p>Activations are laid out row-major: row {@code b} of a buffer holds row {@code b} of the step.
 * All buffers are allocated here, sized for {@link #maxRows()} rows; a step allocates nothing.
 * Not thread-safe: one caller at a time (the engine thread).
 */
public final class Transformer {
    /** Token rows pushed through the weights at once; bounds activation memory. */
    public static final int DEFAULT_MAX_CHUNK = 512;

    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final WorkerPool pool;
    private final int maxRows;

    private final int dim, qDim, kvDim, hidden, heads, headSize, kvGroup, ropeHalf;
    private final float attentionScale;
    private final float[] ropeInvFreq;

    private final float[] x;        // residual stream      [row][dim]
    private final float[] xb;       // normed input, FFN output [row][dim]
    private final float[] xb2;      // projection output    [row][dim]
    private final float[] q;        // queries              [row][qDim]
    private final float[] att;      // attention output     [row][qDim]
    private final float[] k;        // keys                 [row][kvDim]
    private final float[] v;        // values               [row][kvDim]
    private final float[] hb;       // gate, then SwiGLU    [row][hidden]
    private final float[] hb2;      // up                   [row][hidden]
    private final float[] ropeCos;  // per row, per pair    [row][ropeHalf]
    private final float[] ropeSin;

    /** Rows of one sequence that share each widened K/V block in attention (more rows: fewer reads, fewer tasks). */
    static final int ATTENTION_ROWS = 32;
    private final int[] chunkFirst, chunkRows;

    // What the attention task works on; set before each forRange (a capturing lambda would allocate).
    private int attnLayer, attnChunks;
    private int[] attnPositions;
    private SequenceKv[] attnStores;
    private final WorkerPool.RangeTask attentionTask = this::attendRange;
    private final WorkerPool.RangeTask swigluTask = this::swigluRange;

    public Transformer(LlamaConfig config, LlamaWeights weights, WorkerPool pool) {
        this(config, weights, pool, DEFAULT_MAX_CHUNK);
    }

    /** @param maxRows the most token rows one step may carry, over all its sequences */
    public Transformer(LlamaConfig config, LlamaWeights weights, WorkerPool pool, int maxRows) {
        if (maxRows < 1) throw new IllegalArgumentException("maxRows must be >= 1, got " + maxRows);
        this.config = config;
        this.weights = weights;
        this.pool = pool;
        this.maxRows = maxRows;
        this.dim = config.dim();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.hidden = config.hiddenDim();
        this.heads = config.heads();
        this.headSize = config.headSize();
        this.kvGroup = config.heads() / config.kvHeads();
        this.ropeHalf = config.ropeDim() / 2;
        this.attentionScale = (float) (1.0 / Math.sqrt(headSize));
        this.ropeInvFreq = config.ropeInverseFrequencies(weights.ropeFreqFactors());
        int n = maxRows;
        this.x = new float[Math.multiplyExact(n, dim)];
        this.xb = new float[n * dim];
        this.xb2 = new float[n * dim];
        this.q = new float[Math.multiplyExact(n, qDim)];
        this.att = new float[n * qDim];
        this.k = new float[n * kvDim];
        this.v = new float[n * kvDim];
        this.hb = new float[Math.multiplyExact(n, hidden)];
        this.hb2 = new float[n * hidden];
        this.ropeCos = new float[n * ropeHalf];
        this.ropeSin = new float[n * ropeHalf];
        this.chunkFirst = new int[n];
        this.chunkRows = new int[n];
    }

    public LlamaConfig config() { return config; }

    /** The most token rows one {@link #forward(StepBatch)} step may carry. */
    public int maxRows() { return maxRows; }

    /**
     * One step over the rows of {@code batch}; writes {@code batch.logitCount()} logit vectors,
     * row-major, into {@link StepBatch#logits()}. The batch is left as it was (call
     * {@link StepBatch#clear()} to build the next step).
     */
    public void forward(StepBatch batch) {
        if (batch.vocab != config.vocab()) {
            throw new IllegalArgumentException("step batch was sized for a vocabulary of " + batch.vocab
                    + ", the model has " + config.vocab());
        }
        forward(batch.tokens, batch.positions, batch.stores, batch.rows, batch.logitRows, batch.logitCount, batch.logits);
    }


    /**
     * One step of {@code rows} token rows from any number of sequences. Row {@code i} is token
     * {@code tokens[i]} at position {@code positions[i]} of the sequence in {@code stores[i]}; the
     * rows of one sequence must be consecutive, at consecutive positions, in order. Each row's key
     * and value are written to its store before attention reads it, so a row attends over
     * {@code [0, positions[i]]} of its own sequence and never sees another sequence.
     *
     * <p>Logits are computed only for rows {@code logitRows[0 .. logitCount)} (increasing): vector
     * {@code j} goes to {@code logitsOut[j*vocab .. (j+1)*vocab)}. Everything is checked before any
     * store is written, so a refused step leaves every sequence as it was.
     */
    public void forward(int[] tokens, int[] positions, SequenceKv[] stores, int rows, int[] logitRows, int logitCount,
                        float[] logitsOut) {
        int n = rows;
        checkStep(tokens, positions, stores, n, logitRows, logitCount, logitsOut);
        for (int b = 0; b < n; b++) weights.tokenEmbedding().row(tokens[b], x, b * dim);
        ropeTables(positions, n);

        attnPositions = positions;
        attnStores = stores;
        attnChunks = attentionChunks(stores, n);
        try {
            for (int l = 0; l < config.layers(); l++) {
                LlamaWeights.Layer layer = weights.layers()[l];

                // attention: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
                rmsNorm(x, xb, layer.attnNorm(), n);
                layer.wq().multiply(xb, q, n);
                layer.wk().multiply(xb, k, n);
                layer.wv().multiply(xb, v, n);
                if (layer.bq() != null) {
                    addBias(q, layer.bq(), n);
                    addBias(k, layer.bk(), n);
                    addBias(v, layer.bv(), n);
                }
                if (layer.qNorm() != null) {
                    headNorm(q, layer.qNorm(), n * heads);
                    headNorm(k, layer.kNorm(), n * config.kvHeads());
                }
                for (int b = 0; b < n; b++) {
                    rotate(q, b * qDim, heads, b);
                    rotate(k, b * kvDim, config.kvHeads(), b);
                    stores[b].write(l, positions[b], k, b * kvDim, v, b * kvDim);
                }
                attnLayer = l;
                pool.forRange(attnChunks * config.kvHeads(), attentionTask);
                layer.wo().multiply(att, xb2, n);
                if (layer.bo() != null) addBias(xb2, layer.bo(), n);
                add(x, xb2, n * dim);

                // feed-forward: x += W2 · (silu(W1·norm(x)) * W3·norm(x))
                rmsNorm(x, xb, layer.ffnNorm(), n);
                layer.gate().multiply(xb, hb, n);
                layer.up().multiply(xb, hb2, n);
                pool.forRange(n * hidden, swigluTask);
                layer.down().multiply(hb, xb, n);
                add(x, xb, n * dim);
            }
        } finally {
            attnPositions = null;
            attnStores = null;
        }

        if (logitCount > 0) {
            // Only rows whose next token is sampled pay for the classifier, all in one multiply.
            for (int j = 0; j < logitCount; j++) rmsNormRow(x, logitRows[j] * dim, xb, j * dim, weights.outputNorm());
            weights.output().multiply(xb, logitsOut, logitCount);
        }
    }

    /** Refuses a malformed step before anything is written, with a message naming the bad row. */
    private void checkStep(int[] tokens, int[] positions, SequenceKv[] stores, int n, int[] logitRows,
                           int logitCount, float[] logitsOut) {
        if (n < 1) throw new IllegalArgumentException("a step needs at least one row, got " + n);
        if (n > maxRows) {
            throw new IllegalArgumentException("a step of " + n + " rows exceeds this transformer's maximum of " + maxRows);
        }
        if (tokens == null || positions == null || stores == null) {
            throw new IllegalArgumentException("tokens, positions and stores must not be null");
        }
        if (n > tokens.length || n > positions.length || n > stores.length) {
            throw new IllegalArgumentException(n + " rows need " + n + " tokens, positions and stores; got arrays of "
                    + tokens.length + ", " + positions.length + " and " + stores.length);
        }
        int vocab = config.vocab();
        int runStart = 0; // first row of the sequence the current row belongs to
        for (int b = 0; b < n; b++) {
            int token = tokens[b];
            if (token < 0 || token >= vocab) {
                throw new IllegalArgumentException("row " + b + ": token id " + token + " is outside the vocabulary of " + vocab);
            }
            SequenceKv store = stores[b];
            if (store == null) throw new IllegalArgumentException("row " + b + " has no KV store");
            int pos = positions[b];
            if (pos < 0 || pos >= store.capacity()) {
                throw new IllegalArgumentException("row " + b + ": position " + pos + " does not fit a sequence of "
                        + store.capacity() + " positions");
            }
            if (b > 0 && store == stores[b - 1]) {
                if (pos != positions[b - 1] + 1) {
                    throw new IllegalArgumentException("row " + b + ": position " + pos + " does not follow position "
                            + positions[b - 1] + " of the same sequence in row " + (b - 1)
                            + " (a sequence's rows must be at consecutive positions, in order)");
                }
            } else {
                // A new sequence starts here; it must not have had rows earlier in the step.
                for (int earlier = 0; earlier < runStart; earlier++) {
                    if (stores[earlier] == store) {
                        throw new IllegalArgumentException("row " + b + " continues the sequence of row " + earlier
                                + " after rows of another sequence (a sequence's rows must be consecutive)");
                    }
                }
                runStart = b;
            }
        }
        if (logitCount < 0 || logitCount > n) {
            throw new IllegalArgumentException("logit count " + logitCount + " must be between 0 and the " + n + " rows");
        }
        if (logitCount > 0) {
            if (logitRows == null || logitRows.length < logitCount) {
                throw new IllegalArgumentException(logitCount + " logit rows requested but the row list holds "
                        + (logitRows == null ? 0 : logitRows.length));
            }
            for (int j = 0; j < logitCount; j++) {
                int r = logitRows[j];
                if (r < 0 || r >= n || (j > 0 && r <= logitRows[j - 1])) {
                    throw new IllegalArgumentException("logit row " + r + " at index " + j
                            + " must be one of the " + n + " rows and above the one before it");
                }
            }
            if (logitsOut == null || (long) logitCount * vocab > logitsOut.length) {
                throw new IllegalArgumentException("the logits buffer holds " + (logitsOut == null ? 0 : logitsOut.length)
                        + " floats; " + logitCount + " rows x vocabulary " + vocab + " needed");
            }
        }
    }

    /** cos/sin of every (row, pair) angle of this step, each row at its own position, shared by all layers and heads. */
    private void ropeTables(int[] positions, int n) {
        float scale = config.ropeAttnFactor(); // llama.cpp's attn_factor scales cos and sin alike
        for (int b = 0; b < n; b++) {
            int pos = positions[b];
            for (int i = 0; i < ropeHalf; i++) {
                float angle = pos * ropeInvFreq[i];
                ropeCos[b * ropeHalf + i] = (float) Math.cos(angle) * scale;
                ropeSin[b * ropeHalf + i] = (float) Math.sin(angle) * scale;
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
     * Causal attention for the (kv head, row) pairs {@code [from, to)} of the current step, written
     * into {@code att}; each row reads only its own sequence's store, up to its own position. A pair
     * covers the query heads that share its kv head, so the store reads each key and value once for
     * the group. Pairs are numbered head-major: a row's cost grows with its position (late prompt rows
     * and long-context decode rows cost most), while every head costs the same, so contiguous shares
     * of whole heads stay balanced across threads. Softmax is computed online (running max and
     * sum, rescaling the accumulated output when the max grows), so no per-thread score buffer of
     * context length is needed.
     */
    private void attendRange(int from, int to) {
        int[] positions = attnPositions;
        SequenceKv[] stores = attnStores;
        int layer = attnLayer, chunks = attnChunks;
        for (int pair = from; pair < to; pair++) {
            int kvHead = pair / chunks, c = pair % chunks;
            int b = chunkFirst[c];
            int qo = b * qDim + kvHead * kvGroup * headSize; // the kvGroup query heads of this kv head are adjacent
            stores[b].attendRows(layer, kvHead, positions[b] + 1, chunkRows[c], q, qo, qDim, kvGroup, attentionScale, att, qo,
                    qDim, headSize);
        }
    }

    /**
     * Splits the step's rows into attention chunks: runs of at most {@link #ATTENTION_ROWS}
     * consecutive rows of one sequence (a prompt chunk becomes several, a decode row is its own).
     */
    private int attentionChunks(SequenceKv[] stores, int n) {
        int chunks = 0;
        for (int b = 0; b < n; ) {
            int e = b + 1;
            while (e < n && e - b < ATTENTION_ROWS && stores[e] == stores[b]) e++;
            chunkFirst[chunks] = b;
            chunkRows[chunks++] = e - b;
            b = e;
        }
        return chunks;
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

    /** {@code vec[b][i] += bias[i]} for each of {@code n} rows as long as {@code bias}. */
    private static void addBias(float[] vec, float[] bias, int n) {
        int width = bias.length;
        for (int b = 0; b < n; b++) {
            int o = b * width;
            for (int i = 0; i < width; i++) vec[o + i] += bias[i]; // C2 vectorizes this loop
        }
    }

    /**
     * RMSNorm of each of {@code count} consecutive heads of {@code vec} (rows are whole heads, so the
     * heads of all rows are back to back), scaled by {@code weight} (one head long).
     */
    private void headNorm(float[] vec, float[] weight, int count) {
        int hs = headSize;
        float eps = config.rmsEps();
        for (int h = 0; h < count; h++) {
            int o = h * hs;
            float scale = (float) (1.0 / Math.sqrt(VectorMath.sumOfSquares(vec, o, hs) / hs + eps));
            for (int i = 0; i < hs; i++) vec[o + i] = weight[i] * (scale * vec[o + i]);
        }
    }

    private static void add(float[] acc, float[] delta, int n) {
        for (int i = 0; i < n; i++) acc[i] += delta[i];
    }

    /**
     * A reusable description of one step: token rows with their positions and sequences, which
     * rows want logits, and the buffer those logits land in. Everything is preallocated, so a
     * scheduler can {@link #clear()} and refill it every step without allocating.
     */
    public static final class StepBatch {
        private final int vocab;
        private final int[] tokens;
        private final int[] positions;
        private final SequenceKv[] stores;
        private final int[] logitRows;
        private final float[] logits;
        private int rows, logitCount;

        /**
         * @param maxRows      the most rows a step may carry (at most the transformer's {@link #maxRows()})
         * @param maxLogitRows the most rows that may want logits (usually the most sequences per step)
         * @param vocab        the model's vocabulary: each logit row is this long
         */
        public StepBatch(int maxRows, int maxLogitRows, int vocab) {
            if (maxRows < 1 || maxLogitRows < 1 || maxLogitRows > maxRows || vocab < 1) {
                throw new IllegalArgumentException("a step batch needs 1 <= maxLogitRows <= maxRows and vocab >= 1, got "
                        + maxLogitRows + ", " + maxRows + ", " + vocab);
            }
            this.vocab = vocab;
            this.tokens = new int[maxRows];
            this.positions = new int[maxRows];
            this.stores = new SequenceKv[maxRows];
            this.logitRows = new int[maxLogitRows];
            this.logits = new float[Math.multiplyExact(maxLogitRows, vocab)];
        }

        /**
         * Appends a row: {@code token} at {@code position} of the sequence in {@code store}. With
         * {@code wantLogits} its next-token logits are computed, as logit row {@link #logitCount()} - 1.
         *
         * @return this batch, to chain calls
         */
        public StepBatch add(int token, int position, SequenceKv store, boolean wantLogits) {
            if (rows == tokens.length) {
                throw new IllegalStateException("step batch is full: " + rows + " rows");
            }
            if (store == null) throw new IllegalArgumentException("row " + rows + " has no KV store");
            if (wantLogits && logitCount == logitRows.length) {
                throw new IllegalStateException("step batch already has its " + logitCount + " logit rows");
            }
            tokens[rows] = token;
            positions[rows] = position;
            stores[rows] = store;
            if (wantLogits) logitRows[logitCount++] = rows;
            rows++;
            return this;
        }

        /** Empties the batch for the next step (and lets go of the stores it referenced). */
        public void clear() {
            java.util.Arrays.fill(stores, 0, rows, null);
            rows = 0;
            logitCount = 0;
        }

        public int rows() { return rows; }

        public int logitCount() { return logitCount; }

        /** The step row whose logits are logit row {@code j}. */
        public int logitRow(int j) {
            java.util.Objects.checkIndex(j, logitCount);
            return logitRows[j];
        }

        /**
         * Logit row {@code j} lives at {@code logits()[j*vocab .. (j+1)*vocab)}; valid until the
         * next forward over this batch.
         */
        public float[] logits() { return logits; }

        /** Where logit row {@code j} starts in {@link #logits()}. */
        public int logitOffset(int j) {
            java.util.Objects.checkIndex(j, logitCount);
            return j * vocab;
        }

        public int vocab() { return vocab; }
    }
}
