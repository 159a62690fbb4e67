package dev.kvfn.scheduler;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.QueueFullException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler alone, driven step by step by {@link FakeModel}: no weights, no threads, milliseconds. */
class SchedulerTest {

    private static int[] prompt(long seed, int length) {
        var rnd = new SplittableRandom(seed);
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 1 + rnd.nextInt(FakeModel.VOCAB - 1);
        return p;
    }

    private static GenerationResult result(Sequence s) {
        assertTrue(s.result().isDone(), "finished");
        return s.result().join();
    }

    @Test
    void requestsAreAdmittedFirstInLineFirstWithinTheSequenceLimit() {
        var m = new FakeModel(64, 4, new Scheduler.Limits(2, 64, 16, true), null);
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < 4; i++) seqs.add(m.submit(prompt(i, 6), 3));
        StepPlan plan = m.scheduler.plan();
        assertEquals(2, plan.size(), "two slots");
        assertEquals(seqs.get(0), plan.sequence(0));
        assertEquals(seqs.get(1), plan.sequence(1));
        assertEquals(2, m.scheduler.stats().waiting());
        m.runToCompletion();
        for (int i = 0; i < 4; i++) {
            GenerationResult r = result(seqs.get(i));
            assertArrayEquals(FakeModel.expected(prompt(i, 6), 3), r.tokens(), "request " + i);
            assertEquals(FinishReason.LENGTH, r.finishReason());
        }
        assertEquals(0, m.pool.referenced(), "every block released");
    }

    @Test
    void longPromptsArePrefilledInChunksUnderTheStepBudgetWhileOthersDecode() {
        var m = new FakeModel(64, 4, new Scheduler.Limits(4, 5, 16, true), null);
        Sequence shortOne = m.submit(prompt(1, 2), 8);
        StepPlan plan = m.scheduler.plan();
        assertEquals(1, plan.size());
        assertEquals(2, plan.rows(0));
        assertTrue(plan.wantsLogits(0));
        m.step(); // finishes the first plan's bookkeeping: computed, sampled
        Sequence longOne = m.submit(prompt(2, 12), 2);
        plan = m.scheduler.plan();
        // the decode row of the running sequence comes first, then 4 prompt rows of the new one (5 in all)
        assertEquals(2, plan.size());
        assertEquals(shortOne, plan.sequence(0));
        assertEquals(1, plan.rows(0));
        assertEquals(longOne, plan.sequence(1));
        assertEquals(0, plan.firstPosition(1));
        assertEquals(4, plan.rows(1));
        assertFalse(plan.wantsLogits(1), "a chunk that does not end the prompt needs no logits");
        m.runToCompletion();
        assertArrayEquals(FakeModel.expected(prompt(1, 2), 8), result(shortOne).tokens());
        assertArrayEquals(FakeModel.expected(prompt(2, 12), 2), result(longOne).tokens());
    }

    @Test
    void aFullPoolPreemptsTheNewestAndEveryRequestStillGetsItsTokens() {
        // 10 blocks of 4: three sequences of 8 prompt + 12 generated tokens (5 blocks each) cannot all hold their blocks
        var m = new FakeModel(10, 4, new Scheduler.Limits(3, 64, 16, true), null);
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < 3; i++) seqs.add(m.submit(prompt(10 + i, 8), 12));
        m.runToCompletion();
        assertTrue(m.scheduler.stats().preemptions() > 0, "the pool forced preemptions: " + m.scheduler.stats());
        for (int i = 0; i < 3; i++) assertArrayEquals(FakeModel.expected(prompt(10 + i, 8), 12), result(seqs.get(i)).tokens());
        assertEquals(0, m.pool.referenced());
    }

    @Test
    void requestsThatCannotHoldTheirBlocksTogetherRunOneAfterTheOther() {
        // pool of 3 blocks: each request needs at most 3 (8 prompt + 4 generated), so they run one after the other
        var m = new FakeModel(3, 4, new Scheduler.Limits(4, 64, 16, true), null);
        Sequence a = m.submit(prompt(20, 8), 4), b = m.submit(prompt(21, 8), 4);
        m.runToCompletion();
        assertArrayEquals(FakeModel.expected(prompt(20, 8), 4), result(a).tokens());
        assertArrayEquals(FakeModel.expected(prompt(21, 8), 4), result(b).tokens());
    }

    @Test
    void cancellingFreesTheBlocksAtTheNextStepAndReturnsWhatWasGenerated() {
        var m = new FakeModel(32, 4, new Scheduler.Limits(4, 64, 16, true), null);
        Sequence s = m.submit(prompt(3, 6), 50), waiting = null;
        m.step();
        m.step();
        int held = m.pool.referenced();
        assertTrue(held > 0);
        s.cancel();
        m.step();
        GenerationResult r = result(s);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertArrayEquals(java.util.Arrays.copyOf(FakeModel.expected(prompt(3, 6), 50), 2), r.tokens(), "the two tokens so far");
        assertEquals(0, m.pool.referenced(), "its blocks were released");
        // a request cancelled while waiting never runs
        var full = new FakeModel(32, 4, new Scheduler.Limits(1, 64, 16, true), null);
        Sequence running = full.submit(prompt(4, 6), 5);
        waiting = full.submit(prompt(5, 6), 5);
        full.step();
        waiting.cancel();
        full.runToCompletion();
        assertEquals(FinishReason.CANCELLED, result(waiting).finishReason());
        assertEquals(0, result(waiting).completionTokens());
        assertArrayEquals(FakeModel.expected(prompt(4, 6), 5), result(running).tokens());
    }

    @Test
    void aFullQueueRefusesAtOnce() {
        var m = new FakeModel(32, 4, new Scheduler.Limits(1, 64, 2, true), null);
        m.submit(prompt(6, 4), 2);
        m.submit(prompt(7, 4), 2);
        var e = assertThrows(QueueFullException.class, () -> m.submit(prompt(8, 4), 2));
        assertTrue(e.getMessage().contains("max-queue"), e.getMessage());
        m.runToCompletion();
        m.submit(prompt(8, 4), 2); // room again
        m.runToCompletion();
    }

    @Test
    void aCachedPrefixIsTakenFromThePoolAndGivesTheSameTokens() {
        var m = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), null);
        int[] p = prompt(9, 14);
        Sequence first = m.submit(p, 5);
        m.runToCompletion();
        Sequence again = m.submit(p, 5);
        m.runToCompletion();
        assertEquals(0, result(first).cachedTokens());
        assertEquals(12, result(again).cachedTokens(), "three full blocks, leaving the last prompt token to compute");
        assertArrayEquals(result(first).tokens(), result(again).tokens());
        assertEquals(12, m.scheduler.poolStats(0).hitTokens());
        // another salt shares nothing
        Sequence salted = m.submit(p, 5, "tenant-a");
        m.runToCompletion();
        assertEquals(0, result(salted).cachedTokens());
        assertArrayEquals(result(first).tokens(), result(salted).tokens());
        // without prefix caching nothing is reused
        var off = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, false), null);
        off.submit(p, 5);
        off.runToCompletion();
        Sequence cold = off.submit(p, 5);
        off.runToCompletion();
        assertEquals(0, result(cold).cachedTokens());
    }

    @Test
    void aPrefixBelowThePoolIsRestoredThenComputedPastADamagedBlock() {
        var tier = new FakeModel.FakeTier();
        var a = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        int[] p = prompt(11, 18);
        Sequence cold = a.submit(p, 6);
        a.runToCompletion();
        assertEquals((18 + 6 - 1) / 4, tier.stored, "every full block was reported with its tokens");

        // a new scheduler with an empty pool (a restarted replica) restores the 4 full prompt blocks
        var b = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        Sequence warm = b.submit(p, 6);
        b.runToCompletion();
        assertEquals(16, result(warm).cachedTokens());
        assertEquals(0, b.scheduler.poolStats(0).hitTokens(), "none from the pool");
        assertArrayEquals(result(cold).tokens(), result(warm).tokens());
        assertEquals(1, tier.hits, "the hit was reported");

        // a damaged third block: two are restored, the rest computed, same tokens
        var c = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        tier.damageFrom = 2;
        Sequence partly = c.submit(p, 6);
        c.runToCompletion();
        assertEquals(8, result(partly).cachedTokens());
        assertArrayEquals(result(cold).tokens(), result(partly).tokens());
        assertEquals(0, c.pool.referenced());
    }

    @Test
    void aTierThatThrowsFailsOnlyTheRequestItWasServingAndLaterRequestsAreServed() {
        var tier = new FakeModel.FakeTier();
        int[] p = prompt(21, 18), other = prompt(22, 9);
        var a = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        a.submit(p, 6);
        a.runToCompletion(); // p's full blocks are in the tier now

        var b = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        b.survive = true;
        Sequence running = b.submit(other, 12);
        b.step(); // admitted and computing
        // the restore of the next admission throws: that request fails alone, its blocks go back
        var bug = new IllegalStateException("tier bug (test)");
        tier.failRestore = bug;
        Sequence victim = b.submit(p, 6);
        b.step();
        var failure = assertThrows(java.util.concurrent.CompletionException.class, () -> victim.result().join()).getCause();
        assertInstanceOf(dev.kvfn.engine.GenerationFailedException.class, failure);
        assertSame(bug, failure.getCause());
        assertFalse(running.result().isDone(), "the running request goes on");
        b.runToCompletion();
        assertArrayEquals(FakeModel.expected(other, 12), result(running).tokens());
        Sequence again = b.submit(p, 6);
        b.runToCompletion();
        assertEquals(16, result(again).cachedTokens(), "the tier works again");
        assertArrayEquals(FakeModel.expected(p, 6), result(again).tokens());

        // a tier told of new blocks throws in the middle of a step: that step's request fails, the next is served
        tier.failStored = new IllegalStateException("stored failed (test)");
        Sequence inStep = b.submit(prompt(23, 10), 4);
        b.runToCompletion();
        assertTrue(inStep.result().isCompletedExceptionally());
        Sequence after = b.submit(prompt(24, 10), 4);
        b.runToCompletion();
        assertArrayEquals(FakeModel.expected(prompt(24, 10), 4), result(after).tokens());
        assertEquals(2, b.failedSteps);
        assertEquals(0, b.pool.referenced(), "every block released");
        assertEquals(0, b.scheduler.stats().waiting());
    }

    @Test
    void prewarmRestoresChainsIntoThePoolAsIdleCachedBlocks() {
        var tier = new FakeModel.FakeTier();
        var a = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        int[] p = prompt(12, 13);
        Sequence cold = a.submit(p, 3);
        a.runToCompletion();
        var chain = new java.util.ArrayDeque<dev.kvfn.kv.BlockKey>();
        // the chain of the prompt's three full blocks, root first, from the tier's parent links
        dev.kvfn.kv.BlockKey end = null;
        for (var e : tier.parents.entrySet()) if (!tier.parents.containsValue(e.getKey())) end = e.getKey();
        for (var k = end; k != null; k = tier.parents.get(k)) chain.push(k);
        var b = new FakeModel(64, 4, new Scheduler.Limits(4, 64, 16, true), tier);
        List<dev.kvfn.kv.BlockKey[]> chains = java.util.Collections.singletonList(chain.toArray(new dev.kvfn.kv.BlockKey[0]));
        b.scheduler.prewarm(chains, 100);
        assertEquals(chain.size(), b.pool.cachedIdle(), "restored, cached, unreferenced");
        Sequence warm = b.submit(p, 3);
        b.runToCompletion();
        assertEquals(12, result(warm).cachedTokens());
        assertEquals(12, b.scheduler.poolStats(0).hitTokens(), "served from the pool");
        assertArrayEquals(result(cold).tokens(), result(warm).tokens());
    }

    @Test
    void manyRequestsThroughATightPoolKeepTheAccountingAndTheTokens() {
        var tier = new FakeModel.FakeTier();
        var m = new FakeModel(24, 4, new Scheduler.Limits(6, 16, 64, true), tier);
        var rnd = new SplittableRandom(5);
        List<Sequence> seqs = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        int[] shared = prompt(99, 9);
        for (int i = 0; i < 40; i++) {
            int[] p = rnd.nextBoolean() ? java.util.Arrays.copyOf(shared, 9 + rnd.nextInt(8)) : prompt(200 + i, 3 + rnd.nextInt(14));
            for (int j = 9; j < p.length; j++) if (p[j] == 0) p[j] = 1 + rnd.nextInt(FakeModel.VOCAB - 1);
            prompts.add(p);
            seqs.add(m.submit(p, 1 + rnd.nextInt(10)));
            if (rnd.nextInt(3) == 0) m.step(); // requests arrive while others run (checkInvariants after every step)
            if (rnd.nextInt(10) == 0) seqs.get(rnd.nextInt(seqs.size())).cancel();
        }
        m.runToCompletion();
        for (int i = 0; i < seqs.size(); i++) {
            GenerationResult r = result(seqs.get(i));
            int[] want = FakeModel.expected(prompts.get(i), seqs.get(i).request().maxTokens());
            if (r.finishReason() == FinishReason.CANCELLED) want = java.util.Arrays.copyOf(want, r.completionTokens());
            assertArrayEquals(want, r.tokens(), "request " + i);
        }
        assertEquals(0, m.pool.referenced());
        assertTrue(m.scheduler.poolStats(0).hitTokens() > 0, "the shared prefix was hit");
    }
}
