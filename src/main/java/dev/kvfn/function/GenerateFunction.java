package dev.kvfn.function;

import dev.kvfn.config.LimitsConfig;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import io.quarkus.funqy.Funq;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;

import java.util.List;

/** {@code generate}: a prompt in, a completion out. Served as {@code POST /generate} and as CloudEvents. */
public class GenerateFunction {
    static final int MAX_STOP_STRINGS = 16;

    @Inject
    Engine engine;

    @Inject
    LimitsConfig limits;

    @Funq("generate")
    public Uni<GenerateOutput> generate(GenerateInput input) {
        GenerationRequest request = toRequest(input);
        return Uni.createFrom().completionStage(() -> engine.submit(request, TokenSink.NONE).result())
                .map(this::toOutput);
    }

    GenerationRequest toRequest(GenerateInput in) {
        if (in == null) throw new BadRequestException("request body must be a JSON object with a \"prompt\"");
        if (in.prompt() == null || in.prompt().isEmpty()) throw new BadRequestException("\"prompt\" must be a non-empty string");
        if (in.prompt().length() > limits.maxPromptChars()) {
            throw new BadRequestException("\"prompt\" has " + in.prompt().length() + " characters; the limit is " + limits.maxPromptChars());
        }
        int context = engine.model().contextLength();
        int[] prompt = engine.tokenizer().encode(in.prompt());
        if (prompt.length >= context) {
            throw new BadRequestException("prompt is " + prompt.length + " tokens; the model's context is " + context
                    + " tokens and at least one must be left for the completion");
        }
        int room = context - prompt.length;
        int maxTokens;
        if (in.maxTokens() == null) {
            maxTokens = Math.min(limits.defaultMaxTokens(), room);
        } else {
            maxTokens = in.maxTokens();
            if (maxTokens < 1) throw new BadRequestException("\"maxTokens\" must be >= 1, got " + maxTokens);
            if (maxTokens > limits.maxTokens()) {
                throw new BadRequestException("\"maxTokens\" is " + maxTokens + "; the limit is " + limits.maxTokens());
            }
            if (maxTokens > room) {
                throw new BadRequestException("prompt (" + prompt.length + " tokens) + maxTokens (" + maxTokens
                        + ") exceeds the model's context of " + context + " tokens");
            }
        }
        float temperature = in.temperature() == null ? 0f : in.temperature();
        if (!(temperature >= 0f && temperature <= 100f)) throw new BadRequestException("\"temperature\" must be in [0, 100]");
        float topP = in.topP() == null ? 1f : in.topP();
        if (!(topP > 0f && topP <= 1f)) throw new BadRequestException("\"topP\" must be in (0, 1]");
        int topK = in.topK() == null ? 0 : in.topK();
        if (topK < 0) throw new BadRequestException("\"topK\" must be >= 0 (0 disables it)");
        float minP = in.minP() == null ? 0f : in.minP();
        if (!(minP >= 0f && minP <= 1f)) throw new BadRequestException("\"minP\" must be in [0, 1]");
        long seed = in.seed() == null ? System.nanoTime() : in.seed();
        List<String> stop = in.stop() == null ? List.of() : in.stop();
        if (stop.size() > MAX_STOP_STRINGS) throw new BadRequestException("at most " + MAX_STOP_STRINGS + " \"stop\" strings");
        for (String s : stop) {
            if (s == null || s.isEmpty()) throw new BadRequestException("\"stop\" strings must be non-empty");
        }
        return new GenerationRequest(prompt, maxTokens, new SamplingParams(temperature, topK, topP, minP, seed), stop,
                in.cacheSalt());
    }

    GenerateOutput toOutput(GenerationResult r) {
        return new GenerateOutput(r.text(), r.tokens(), r.promptTokens(), r.completionTokens(), r.cachedTokens(),
                r.finishReason().wireName(), r.ttftNanos() / 1e6, r.decodeTokensPerSecond(), engine.model().name());
    }
}
