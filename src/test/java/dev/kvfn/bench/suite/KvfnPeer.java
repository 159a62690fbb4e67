package dev.kvfn.bench.suite;

import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalDouble;
import java.util.concurrent.TimeUnit;

/** kvfn in process: the engine API ({@link CpuEngine#submit}), the figures its {@link GenerationResult} reports. */
final class KvfnPeer implements Peer {
    private final CpuEngine engine;

    KvfnPeer(Path model, int threads, int contextLength) {
        // a fixed pool: the automatic one would take half of the machine's free memory per engine
        this.engine = CpuEngine.load(model, null, EngineOptions.defaults(threads).withContextLimit(contextLength)
                .withPoolBytes(256L << 20));
    }

    @Override
    public String engine() {
        return KVFN;
    }

    @Override
    public double prefill(Prompt prompt) throws Exception {
        GenerationResult r = run(engine, prompt.tokens(), 1);
        if (r.cachedTokens() != 0) throw new IllegalStateException("kvfn found " + r.cachedTokens() + " prompt tokens cached");
        return prompt.length() * 1e9 / r.ttftNanos();
    }

    @Override
    public double decode(Prompt prompt, int tokens) throws Exception {
        GenerationResult r = run(engine, prompt.tokens(), tokens + 1);
        if (r.completionTokens() < 2) throw new IllegalStateException("kvfn produced " + r.completionTokens() + " token(s)");
        return r.decodeTokensPerSecond();
    }

    @Override
    public OptionalDouble streams(List<int[]> prompts, int tokens) throws Exception {
        long[][] times = new long[prompts.size()][tokens];
        int[] counts = new int[prompts.size()];
        List<Generation> running = new ArrayList<>();
        for (int s = 0; s < prompts.size(); s++) {
            int id = s;
            running.add(engine.submit(new GenerationRequest(prompts.get(s), tokens, SamplingParams.GREEDY),
                    (token, text) -> times[id][counts[id]++] = System.nanoTime()));
        }
        for (Generation g : running) g.result().get(30, TimeUnit.MINUTES);
        for (int s = 0; s < times.length; s++) times[s] = Arrays.copyOf(times[s], counts[s]);
        return OptionalDouble.of(Streams.aggregate(times));
    }

    static GenerationResult run(CpuEngine engine, int[] prompt, int maxTokens) throws Exception {
        return engine.submit(new GenerationRequest(prompt, maxTokens, SamplingParams.GREEDY), TokenSink.NONE)
                .result().get(30, TimeUnit.MINUTES);
    }

    @Override
    public void close() {
        engine.close();
    }
}
