package dev.kvfn.scheduler;

import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.tokenizer.LiteralSpans;
import dev.kvfn.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A model without weights that drives a {@link Scheduler} the way an engine does, one step at a
 * time on the caller's thread. Its "KV" is the token ids themselves, written into the pool blocks'
 * slots as rows are computed, and the next token is a hash of everything read back through the
 * sequence's block table: a block shared, restored or released wrongly changes the tokens.
 */
final class FakeModel {
    static final int VOCAB = 61, EOS = 0;
    static final byte[] FINGERPRINT = new byte[32];

    final int blockTokens;
    final BlockPool pool;
    final int[][] kv;          // [block][slot] = token id whose KV the slot holds
    final Scheduler scheduler;
    int steps;
    boolean survive;   // step like the engine's loop: a throw fails the step's requests and the loop goes on
    int failedSteps;

    FakeModel(int blocks, int blockTokens, Scheduler.Limits limits, FakeTier lower) {
        this.blockTokens = blockTokens;
        this.pool = new BlockPool(blocks);
        this.kv = new int[blocks][blockTokens];
        if (lower != null) lower.attach(this);
        this.scheduler = new Scheduler(pool, blockTokens, 1024, limits, () -> new BlockHasher(FINGERPRINT, "fake-layout/1"),
                lower, TOKENIZER);
    }

    Sequence submit(int[] prompt, int maxTokens) {
        return submit(prompt, maxTokens, null);
    }

    Sequence submit(int[] prompt, int maxTokens, String salt) {
        return scheduler.submit(new GenerationRequest(prompt, maxTokens, SamplingParams.GREEDY, null, salt), TokenSink.NONE,
                maxTokens, table -> null);
    }

    /**
     * One engine step: plan, "compute" the rows into the blocks, sample; false when the plan was empty.
     * With {@link #survive}, a step that throws is handled as {@code CpuEngine}'s loop does.
     */
    boolean step() {
        try {
            return stepOnce();
        } catch (RuntimeException e) {
            if (!survive) throw e;
            failedSteps++;
            scheduler.failStep(dev.kvfn.engine.GenerationFailedException.of(e));
            scheduler.completeFinished();
            pool.checkInvariants();
            return true;
        }
    }

    private boolean stepOnce() {
        StepPlan plan = scheduler.plan();
        boolean ran = !plan.isEmpty();
        if (ran) {
            for (int i = 0; i < plan.size(); i++) {
                Sequence s = plan.sequence(i);
                for (int r = 0; r < plan.rows(i); r++) {
                    int pos = plan.firstPosition(i) + r;
                    kv[s.blocks().block(pos / blockTokens)][pos % blockTokens] = s.token(pos);
                }
            }
            scheduler.computed();
            for (int i = 0; i < plan.size(); i++) {
                if (!plan.wantsLogits(i)) continue;
                Sequence s = plan.sequence(i);
                int last = plan.firstPosition(i) + plan.rows(i) - 1;
                scheduler.accept(s, next(readBack(s.blocks(), last + 1)));
            }
            steps++;
        }
        scheduler.completeFinished();
        pool.checkInvariants();
        return ran;
    }

    /** Steps until every submitted request is done (bounded: a scheduler that stalls fails the test). */
    void runToCompletion() {
        for (int idle = 0; idle < 3; ) {
            EngineStats.SchedulerStats s = scheduler.stats();
            if (s.running() == 0 && s.waiting() == 0) return;
            idle = step() ? 0 : idle + 1;
            if (steps > 100_000) throw new AssertionError("the scheduler did not finish");
        }
        throw new AssertionError("the scheduler stalled with work left: " + scheduler.stats());
    }

    private int[] readBack(BlockTable table, int positions) {
        int[] out = new int[positions];
        for (int p = 0; p < positions; p++) out[p] = kv[table.block(p / blockTokens)][p % blockTokens];
        return out;
    }

    /** The fake model: the next token after {@code context}, never EOS. */
    static int next(int[] context) {
        int h = 17;
        for (int t : context) h = h * 31 + t;
        return 1 + Math.floorMod(h, VOCAB - 1);
    }

    /** What greedy generation must give, computed without any cache or scheduler. */
    static int[] expected(int[] prompt, int maxTokens) {
        int[] all = java.util.Arrays.copyOf(prompt, prompt.length + maxTokens);
        for (int i = 0; i < maxTokens; i++) all[prompt.length + i] = next(java.util.Arrays.copyOf(all, prompt.length + i));
        return java.util.Arrays.copyOfRange(all, prompt.length, all.length);
    }

    /** A lower tier holding block contents by key, as the engine's tiers would (bytes are the fake KV). */
    static final class FakeTier implements PrefixSource {
        final Map<BlockKey, int[]> blocks = new HashMap<>();
        final Map<BlockKey, BlockKey> parents = new HashMap<>();
        int stored, evicted, hits, damageFrom = Integer.MAX_VALUE;
        RuntimeException failRestore, failStored; // thrown once by the next restore / stored, then cleared
        private FakeModel model;

        void attach(FakeModel m) {
            model = m;
        }

        @Override
        public int available(BlockKey[] keys, int from, int to) {
            int n = 0;
            while (from + n < to && blocks.containsKey(keys[from + n])) n++;
            return n;
        }

        @Override
        public int restore(BlockKey[] keys, int from, int count, int[] target) {
            if (failRestore != null) {
                RuntimeException e = failRestore;
                failRestore = null;
                throw e;
            }
            int good = 0;
            for (; good < count && from + good < damageFrom; good++) {
                int[] content = blocks.get(keys[from + good]);
                if (content == null) break;
                System.arraycopy(content, 0, model.kv[target[good]], 0, content.length);
            }
            return good;
        }

        @Override
        public void stored(BlockKey key, BlockKey parent, int[] tokens, int from, boolean salted, int block) {
            if (failStored != null) {
                RuntimeException e = failStored;
                failStored = null;
                throw e;
            }
            stored++;
            int[] content = model.kv[block].clone();
            for (int i = 0; i < content.length; i++) {
                if (content[i] != tokens[from + i]) throw new AssertionError("stored block " + block + " does not hold its tokens");
            }
            blocks.put(key, content);
            parents.put(key, parent);
        }

        @Override
        public void evicted(BlockKey key, BlockKey parent, int block) {
            evicted++;
        }

        @Override
        public void hit(BlockKey last) {
            hits++;
        }
    }

    static final Tokenizer TOKENIZER = new Tokenizer() {
        @Override public int vocabSize() { return VOCAB; }
        @Override public int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal) { throw new UnsupportedOperationException(); }
        @Override public byte[] tokenBytes(int token) { return new byte[] {(byte) ('A' + token % 26)}; }
        @Override public String decode(int[] tokens) {
            StringBuilder b = new StringBuilder();
            for (int t : tokens) b.append(new String(tokenBytes(t), StandardCharsets.US_ASCII));
            return b.toString();
        }
        @Override public String piece(int token) { return new String(tokenBytes(token), StandardCharsets.US_ASCII); }
        @Override public int bos() { return -1; }
        @Override public int eos() { return EOS; }
        @Override public boolean isEndOfGeneration(int token) { return token == EOS; }
    };
}
