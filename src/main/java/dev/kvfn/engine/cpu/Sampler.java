package dev.kvfn.engine.cpu;

import dev.kvfn.engine.SamplingParams;

import java.util.SplittableRandom;

/**
 * Picks the next token from logits. Temperature 0 is argmax (ties go to the lowest id). Otherwise
 * the filters run in llama.cpp's default order on the temperature-1 distribution — top-k, then
 * top-p (smallest prefix whose mass reaches p, renormalized over what top-k kept), then min-p
 * (keep p >= minP * p_max) — and the survivors are sampled at the requested temperature.
 *
 * <p>Candidates are ordered lazily with a binary max-heap of packed (logit, id) keys: building it
 * is O(vocab) and only the tokens actually kept are popped, so top-k/top-p cost little more than
 * one pass over the vocabulary. Scratch arrays are allocated once; not thread-safe.
 */
public final class Sampler {
    private final int vocab;
    private final long[] heap;
    private final int[] kept;

    public Sampler(int vocab) {
        if (vocab < 1) throw new IllegalArgumentException("vocab must be >= 1, got " + vocab);
        this.vocab = vocab;
        this.heap = new long[vocab];
        this.kept = new int[vocab];
    }

    /** A request's random source: the same seed gives the same sequence on every JVM. */
    public static SplittableRandom random(SamplingParams params) {
        return new SplittableRandom(params.seed());
    }

    public int sample(float[] logits, SamplingParams p, SplittableRandom rng) {
        if (logits.length < vocab) throw new IllegalArgumentException("logits has " + logits.length + " entries, vocab is " + vocab);
        if (p.greedy()) return argmax(logits, vocab);
        float max = logits[argmax(logits, vocab)];
        if (max == Float.POSITIVE_INFINITY || Float.isNaN(max)) throw new IllegalStateException("logits are not finite");
        // min-p compared in log space: p_i >= minP * p_max  <=>  logit_i >= max + ln(minP)
        float minLogit = p.minP() > 0 ? max + (float) Math.log(p.minP()) : Float.NEGATIVE_INFINITY;
        int n;
        if (p.topK() <= 0 && p.topP() >= 1f) {
            n = 0;
            for (int i = 0; i < vocab; i++) if (logits[i] >= minLogit) kept[n++] = i;
        } else {
            n = orderedCandidates(logits, max, p, minLogit);
        }
        return draw(logits, max, n, p.temperature(), rng);
    }

    /** Fills {@code kept} with the survivors of top-k, top-p and min-p, best first; returns how many. */
    private int orderedCandidates(float[] logits, float max, SamplingParams p, float minLogit) {
        for (int i = 0; i < vocab; i++) heap[i] = key(logits[i], i);
        int size = vocab;
        for (int i = size / 2 - 1; i >= 0; i--) siftDown(i, size);
        int limit = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double mass;
        int n = 0;
        if (limit < vocab) {
            // top-k first: top-p then sees the distribution renormalized over these k
            mass = 0;
            for (; n < limit; n++) {
                kept[n] = pop(size--);
                mass += Math.exp(logits[kept[n]] - max);
            }
        } else {
            mass = 0;
            for (int i = 0; i < vocab; i++) mass += Math.exp(logits[i] - max);
        }
        if (p.topP() < 1f) {
            double target = p.topP() * mass, cumulative = 0;
            int m = 0;
            while (m < limit) {
                if (m == n) kept[n++] = pop(size--);
                cumulative += Math.exp(logits[kept[m]] - max);
                m++;
                if (cumulative >= target) break;
            }
            n = m;
        } else if (n < limit) {
            while (n < limit) kept[n++] = pop(size--);
        }
        // min-p last; the best token always survives it
        int m = 1;
        while (m < n && logits[kept[m]] >= minLogit) m++;
        return m;
    }

    private int draw(float[] logits, float max, int n, float temperature, SplittableRandom rng) {
        double total = 0;
        for (int i = 0; i < n; i++) total += Math.exp((logits[kept[i]] - max) / temperature);
        double r = rng.nextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < n; i++) {
            cumulative += Math.exp((logits[kept[i]] - max) / temperature);
            if (r < cumulative) return kept[i];
        }
        return kept[n - 1]; // rounding left r just past the last bucket
    }

    /** Highest logit, lowest id on ties; NaN logits never win. */
    public static int argmax(float[] logits, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (logits[i] > logits[best] || Float.isNaN(logits[best])) best = i;
        return best;
    }

    /**
     * Orders by logit, then by lower id: the float's bits made monotonic as a signed int in the
     * high word, the complemented id in the low word.
     */
    private static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit);
        int monotonic = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) monotonic << 32) | (~id & 0xffffffffL);
    }

    private int pop(int size) {
        long top = heap[0];
        heap[0] = heap[size - 1];
        siftDown(0, size - 1);
        return ~(int) top;
    }

    private void siftDown(int i, int size) {
        long v = heap[i];
        while (true) {
            int c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && heap[c + 1] > heap[c]) c++;
            if (heap[c] <= v) break;
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = v;
    }
}
