package dev.kvfn.engine.cpu;

import dev.kvfn.engine.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    /** A crafted distribution: probabilities 0.5, 0.25, 0.15, 0.06, 0.04 on ids 3, 0, 4, 1, 2. */
    private static final float[] LOGITS = logits(new double[] {0.25, 0.06, 0.04, 0.5, 0.15});

    private static float[] logits(double[] probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < l.length; i++) l[i] = (float) Math.log(probs[i]) + 3f; // shifted: only differences matter
        return l;
    }

    private static Set<Integer> support(SamplingParams p, int draws) {
        var sampler = new Sampler(LOGITS.length);
        var rng = Sampler.random(p);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < draws; i++) seen.add(sampler.sample(LOGITS, p, rng));
        return seen;
    }

    @Test
    void greedyIsArgmaxWithTiesToTheLowestId() {
        var sampler = new Sampler(5);
        assertEquals(3, sampler.sample(LOGITS, SamplingParams.GREEDY, new SplittableRandom(1)));
        float[] tie = {0f, 2f, -1f, 2f, 2f, 1f};
        assertEquals(1, new Sampler(6).sample(tie, SamplingParams.GREEDY, new SplittableRandom(1)));
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        var p = new SamplingParams(1f, 0, 1f, 0f, 42);
        int[] a = draws(p, 200), b = draws(p, 200);
        assertArrayEquals(a, b);
        int[] c = draws(new SamplingParams(1f, 0, 1f, 0f, 43), 200);
        assertTrue(!java.util.Arrays.equals(a, c), "a different seed should give a different sequence");
    }

    private static int[] draws(SamplingParams p, int n) {
        var sampler = new Sampler(LOGITS.length);
        var rng = Sampler.random(p);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = sampler.sample(LOGITS, p, rng);
        return out;
    }

    @Test
    void topKOfOneIsGreedyAtAnyTemperature() {
        assertEquals(Set.of(3), support(new SamplingParams(5f, 1, 1f, 0f, 7), 300));
    }

    @Test
    void topKKeepsTheKMostLikely() {
        assertEquals(Set.of(3, 0), support(new SamplingParams(1f, 2, 1f, 0f, 7), 500));
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // 0.5 < 0.7, 0.5+0.25 = 0.75 >= 0.7: ids 3 and 0
        assertEquals(Set.of(3, 0), support(new SamplingParams(1f, 0, 0.7f, 0f, 7), 500));
        // 0.75 < 0.8, +0.15 = 0.9 >= 0.8: adds id 4
        assertEquals(Set.of(3, 0, 4), support(new SamplingParams(1f, 0, 0.8f, 0f, 7), 1000));
    }

    @Test
    void topPAfterTopKRenormalizesOverTheKept() {
        // top-k 3 keeps 0.5, 0.25, 0.15 (mass 0.9); 0.75/0.9 = 0.83 >= 0.8 so id 4 is cut
        assertEquals(Set.of(3, 0), support(new SamplingParams(1f, 3, 0.8f, 0f, 7), 1000));
    }

    @Test
    void minPIsRelativeToTheMostLikelyToken() {
        // p >= 0.3 * 0.5 = 0.15: ids 3, 0, 4 (0.15 is kept, 0.06 is not)
        assertEquals(Set.of(3, 0, 4), support(new SamplingParams(1f, 0, 1f, 0.29f, 7), 2000));
        assertEquals(Set.of(3, 0), support(new SamplingParams(1f, 0, 1f, 0.4f, 7), 2000));
        // every token at min-p 0 with enough draws
        assertEquals(Set.of(0, 1, 2, 3, 4), support(new SamplingParams(1f, 0, 1f, 0f, 7), 3000));
    }

    @Test
    void samplingFollowsTheDistribution() {
        var p = new SamplingParams(1f, 0, 1f, 0f, 11);
        int[] counts = new int[5];
        for (int t : draws(p, 20_000)) counts[t]++;
        assertEquals(0.5, counts[3] / 20_000.0, 0.02);
        assertEquals(0.25, counts[0] / 20_000.0, 0.02);
        assertEquals(0.04, counts[2] / 20_000.0, 0.01);
    }

    @Test
    void lowTemperatureSharpensHighFlattens() {
        int[] cold = new int[5], hot = new int[5];
        for (int t : draws(new SamplingParams(0.2f, 0, 1f, 0f, 5), 5000)) cold[t]++;
        for (int t : draws(new SamplingParams(5f, 0, 1f, 0f, 5), 5000)) hot[t]++;
        assertTrue(cold[3] > 4500, "temperature 0.2 should pick the top token almost always: " + cold[3]);
        assertTrue(hot[2] > 500, "temperature 5 should often pick the least likely token: " + hot[2]);
    }
}
