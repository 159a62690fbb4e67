package dev.kvfn.engine.cpu;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The pure-Java engine: one model, one KV store, one engine thread that serves requests in
 * submission order (FIFO), each to completion. Tokens stream to the request's sink from that
 * thread.
 */
public final class CpuEngine implements Engine {
    private final ModelInfo info;
    private final Tokenizer tokenizer;
    private final LlamaConfig config;
    private final WorkerPool pool;
    private final Transformer transformer;
    private final KvStore kv;
    private final Sampler sampler;
    private final AutoCloseable mapping;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;

    private CpuEngine(ModelInfo info, Tokenizer tokenizer, LlamaConfig config, LlamaWeights weights,
                      WorkerPool pool, AutoCloseable mapping) {
        if (tokenizer.vocabSize() != config.vocab()) {
            throw new IllegalArgumentException(info.source() + ": the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocabulary is " + config.vocab());
        }
        this.info = info;
        this.tokenizer = tokenizer;
        this.config = config;
        this.pool = pool;
        this.transformer = new Transformer(config, weights, pool);
        this.kv = ContiguousKvStore.forModel(config);
        this.sampler = new Sampler(config.vocab());
        this.mapping = mapping;
        this.thread = Thread.ofPlatform().name("kvfn-cpu-engine").daemon().unstarted(this::serve);
        this.thread.start();
    }

    /**
     * Loads a GGUF or llama2.c model, told apart by the GGUF magic. A llama2.c checkpoint needs its
     * {@code tokenizer.bin}; for a GGUF a non-null {@code tokenizerOrNull} (llama2.c format) replaces
     * the embedded vocabulary.
     */
    public static CpuEngine load(Path model, Path tokenizerOrNull, int threads) {
        return load(model, tokenizerOrNull, threads, Integer.MAX_VALUE);
    }

    /** As {@link #load(Path, Path, int)}, with the context cut to {@code contextLimit} positions (bounds KV memory). */
    public static CpuEngine load(Path model, Path tokenizerOrNull, int threads, int contextLimit) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (isGguf(model)) {
            GgufFile gguf = GgufFile.open(model);
            try {
                Tokenizer tok = tokenizerOrNull == null ? Tokenizers.fromGguf(gguf) : Llama2cTokenizer.load(tokenizerOrNull);
                return create(gguf, model.toString(), tok, threads, contextLimit);
            } catch (RuntimeException e) {
                gguf.close();
                throw e;
            }
        }
        if (tokenizerOrNull == null) {
            throw new IllegalArgumentException(model + ": a llama2.c checkpoint needs its tokenizer.bin; none was given (kvfn.model.tokenizer / KVFN_MODEL_TOKENIZER)");
        }
        Llama2cTokenizer tok = Llama2cTokenizer.load(tokenizerOrNull);
        Llama2cCheckpoint checkpoint = Llama2cCheckpoint.open(model);
        WorkerPool pool = new WorkerPool(threads);
        try {
            LlamaConfig config = LlamaConfig.fromLlama2c(checkpoint.header()).withContextLength(contextLimit);
            LlamaWeights weights = LlamaWeights.load(config, checkpoint.tensors(), model, pool);
            String name = model.getFileName().toString();
            var info = new ModelInfo(name, model.toString(), "llama", config.contextLength(), config.vocab());
            return new CpuEngine(info, tok, config, weights, pool, checkpoint);
        } catch (RuntimeException e) {
            pool.close();
            checkpoint.close();
            throw e;
        }
    }

    /** An engine over an already-open GGUF with its own vocabulary; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, int threads) {
        return fromGguf(gguf, source, Tokenizers.fromGguf(gguf), threads);
    }

    /** An engine over an already-open GGUF with the given tokenizer; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, Tokenizer tokenizer, int threads) {
        return create(gguf, source, tokenizer, threads, Integer.MAX_VALUE);
    }

    private static CpuEngine create(GgufFile gguf, String source, Tokenizer tokenizer, int threads, int contextLimit) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        LlamaConfig config = LlamaConfig.fromGguf(gguf).withContextLength(contextLimit);
        WorkerPool pool = new WorkerPool(threads);
        try {
            LlamaWeights weights = LlamaWeights.load(config, gguf.tensors(), gguf.path(), pool);
            String name = gguf.string("general.name", String.valueOf(gguf.path().getFileName()));
            var info = new ModelInfo(name, source, "llama", config.contextLength(), config.vocab());
            return new CpuEngine(info, tokenizer, config, weights, pool, gguf);
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    private static boolean isGguf(Path model) {
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(model)) {
            if (in.readNBytes(head, 0, 4) < 4) throw new ModelFormatException(model, "file too short to be a model (" + Files.size(model) + " bytes)");
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(model, "no such file", e);
        } catch (IOException e) {
            throw new ModelFormatException(model, "cannot read model: " + e, e);
        }
        return ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt() == GgufFile.MAGIC;
    }

    @Override
    public ModelInfo model() {
        return info;
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public LlamaConfig config() {
        return config;
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        if (closed) throw new IllegalStateException("engine is closed");
        int[] prompt = request.promptTokens();
        if (prompt.length >= config.contextLength()) {
            throw new IllegalArgumentException("prompt has " + prompt.length + " tokens but the context holds "
                    + config.contextLength() + " (prompt plus at least one completion token)");
        }
        for (int t : prompt) {
            if (t < 0 || t >= config.vocab()) {
                throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary of " + config.vocab());
            }
        }
        for (String s : request.stop()) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        var job = new Job(request, sink == null ? TokenSink.NONE : sink, System.nanoTime());
        queue.add(job);
        if (closed && queue.remove(job)) job.result.completeExceptionally(new IllegalStateException("engine is closed"));
        return job;
    }

    private void serve() {
        while (!closed) {
            Job job;
            try {
                job = queue.take();
            } catch (InterruptedException e) {
                break;
            }
            try {
                job.result.complete(run(job));
            } catch (Throwable t) {
                job.result.completeExceptionally(t);
            }
        }
        for (Job job; (job = queue.poll()) != null; ) {
            job.result.completeExceptionally(new IllegalStateException("engine closed before the request ran"));
        }
    }

    private GenerationResult run(Job job) {
        GenerationRequest req = job.request;
        int[] prompt = req.promptTokens();
        var text = new CompletionText(req.stop());
        int limit = Math.min(req.maxTokens(), config.contextLength() - prompt.length);
        int[] tokens = new int[limit];
        int n = 0;
        long first = 0, last = 0;
        FinishReason reason = null;
        if (job.cancelled) {
            return new GenerationResult("", new int[0], prompt.length, 0, FinishReason.CANCELLED, 0, 0);
        }
        SplittableRandom rng = Sampler.random(req.sampling());
        float[] logits = transformer.forward(prompt, 0, prompt.length, 0, kv);
        while (reason == null) {
            if (job.cancelled || closed) {
                reason = FinishReason.CANCELLED;
                text.finish();
                break;
            }
            int token = sampler.sample(logits, req.sampling(), rng);
            last = System.nanoTime();
            if (n == 0) first = last;
            tokens[n++] = token;
            String piece;
            if (tokenizer.isEndOfGeneration(token)) {
                reason = FinishReason.STOP;
                piece = text.finish();
            } else {
                piece = text.append(tokenizer.tokenBytes(token));
                if (text.stopped()) reason = FinishReason.STOP;
                else if (n == limit) {
                    reason = FinishReason.LENGTH;
                    piece += text.finish();
                }
            }
            job.sink.onToken(token, piece);
            if (reason == null) logits = transformer.forward(tokens, n - 1, 1, prompt.length + n - 1, kv);
        }
        return new GenerationResult(text.text(), Arrays.copyOf(tokens, n), prompt.length, 0, reason,
                n == 0 ? 0 : first - job.submitted, n == 0 ? 0 : last - first);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.close();
        try {
            mapping.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing the model mapping of " + info.source() + " failed", e);
        }
    }

    private static final class Job implements Generation {
        final GenerationRequest request;
        final TokenSink sink;
        final long submitted;
        final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
        volatile boolean cancelled;

        Job(GenerationRequest request, TokenSink sink, long submitted) {
            this.request = request;
            this.sink = sink;
            this.submitted = submitted;
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
}
