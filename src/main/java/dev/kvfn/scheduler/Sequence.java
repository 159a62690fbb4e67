package dev.kvfn.scheduler;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.text.CompletionText;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;

/**
 * One request as the scheduler tracks it: its tokens so far (prompt, then generated), how many of
 * them have KV in its blocks, its block table, its text and its result. Fields are touched by the
 * scheduler's thread only, except {@link #cancel()} and the keys computed ahead of admission.
 */
public final class Sequence implements Generation {
    final GenerationRequest request;
    final TokenSink sink;
    final long submitted;
    final int promptLength, limit;
    final int[] tokens;   // prompt then generated
    int length;           // tokens[0 .. length) are known; [0 .. computed) have KV in the blocks
    int computed;
    int hashed;           // full blocks already registered (or taken from the cache)
    int cachedTokens;
    boolean admitted;
    boolean ended;        // finished or failed: its result is decided
    final BlockTable blocks;
    private final Object state;
    private final CompletionText text;
    private BlockKey[] keys = new BlockKey[4];
    private int keyCount;
    private long first, last;
    FinishReason reason;
    GenerationResult outcome;
    Throwable failure;
    final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
    volatile boolean cancelled;

    Sequence(GenerationRequest request, TokenSink sink, int limit, BlockTable blocks, Object state, long submitted) {
        this.request = request;
        this.sink = sink;
        this.submitted = submitted;
        this.promptLength = request.promptTokens().length;
        this.limit = limit;
        this.tokens = Arrays.copyOf(request.promptTokens(), promptLength + limit);
        this.length = promptLength;
        this.blocks = blocks;
        this.state = state;
        this.text = new CompletionText(request.stop());
    }

    public GenerationRequest request() { return request; }

    /** The engine's own per-sequence state (its attention view, its sampler's random source), as given at submit. */
    @SuppressWarnings("unchecked")
    public <T> T state() { return (T) state; }

    public BlockTable blocks() { return blocks; }

    /** Token {@code position} (prompt or generated). */
    public int token(int position) { return tokens[position]; }

    int maxLength() {
        return promptLength + limit;
    }

    /** The key of full block {@code i}, computed once along the chain (with the calling thread's hasher). */
    BlockKey key(int i, BlockHasher hasher) {
        keys(i + 1, hasher);
        return keys[i];
    }

    /** Keys of the first {@code n} full blocks in an array of at least {@code n} (the sequence's own: do not modify). */
    BlockKey[] keys(int n, BlockHasher hasher) {
        int bt = blocks.blockTokens();
        while (keyCount < n) {
            if (keyCount == keys.length) keys = Arrays.copyOf(keys, keys.length * 2);
            BlockKey parent = keyCount == 0 ? null : keys[keyCount - 1];
            keys[keyCount] = hasher.key(parent, request.cacheSalt(), tokens, keyCount * bt, bt);
            keyCount++;
        }
        return keys;
    }

    /** The keys of the full blocks before the last prompt token (those a cache may supply), exactly sized. */
    BlockKey[] prefixKeys(BlockHasher hasher) {
        int n = (length - 1) / blocks.blockTokens();
        return Arrays.copyOf(keys(n, hasher), n);
    }

    /** Records a sampled token and streams its text; returns true when the sequence is done. */
    boolean emit(int token, Tokenizer tokenizer) {
        last = System.nanoTime();
        int n = length - promptLength;
        if (n == 0) first = last;
        tokens[length++] = token;
        n++;
        String piece = text.accept(tokenizer, token, n == limit);
        reason = text.finishReason();
        sink.onToken(token, piece);
        return reason != null;
    }

    GenerationResult finish(FinishReason why) {
        if (why == FinishReason.CANCELLED) text.finish();
        int n = length - promptLength;
        return new GenerationResult(text.text(), Arrays.copyOfRange(tokens, promptLength, length), promptLength,
                cachedTokens, why, n == 0 ? 0 : first - submitted, n == 0 ? 0 : last - first);
    }

    @Override
    public CompletableFuture<GenerationResult> result() {
        return result;
    }

    @Override
    public void cancel() {
        cancelled = true;
    }
}
