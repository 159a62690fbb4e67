package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.TokenSink;
import io.quarkus.funqy.Funq;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;


/** {@code generate}: a prompt in, a completion out. Served as {@code POST /generate} and as CloudEvents. */
public class GenerateFunction {
    @Inject
    Engine engine;

    @Inject
    GenerationRequests requests;

    @Inject
    CacheHitReport hits;

    @Funq("generate")
    public Uni<GenerateOutput> generate(GenerateInput input) {
        GenerationRequest request = toRequest(input);
        return Uni.createFrom().completionStage(() -> engine.submit(request, TokenSink.NONE).result())
                .map(r -> toOutput(r, request.constraint() != null, hits.shows(request)));
    }

    GenerationRequest toRequest(GenerateInput in) {
        if (in == null) throw new BadRequestException("request body must be a JSON object with a \"prompt\"");
        return requests.build(in.prompt(), new GenerationRequests.Knobs(in.maxTokens(), in.temperature(), in.topP(),
                in.topK(), in.minP(), in.seed(), in.stop(), in.cacheSalt()), GenerationRequests.Style.FUNQY)
                .withConstraint(JsonOutput.constraint(in.jsonSchema(), engine.tokenizer()));
    }

    GenerateOutput toOutput(GenerationResult r, boolean json, boolean showHits) {
        return new GenerateOutput(r.text(), r.tokens(), r.promptTokens(), r.completionTokens(), showHits ? r.cachedTokens() : null,
                r.finishReason().wireName(), showHits ? r.ttftNanos() / 1e6 : null, r.decodeTokensPerSecond(), engine.model().name(),
                json ? JsonOutput.value(r) : null);
    }
}
