package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.Generation;
import io.quarkus.arc.Arc;
import io.quarkus.funqy.Funq;
import io.quarkus.vertx.http.runtime.CurrentVertxRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
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

    @Inject
    CurrentVertxRequest http;

    /** A client that disconnects (over HTTP) cancels its generation, so it does not run on to its deadline for nobody. */
    @Funq("generate")
    public Uni<GenerateOutput> generate(GenerateInput input) {
        GenerationRequest request = toRequest(input);
        HttpServerResponse response = httpResponse();
        return Uni.createFrom().deferred(() -> {
                    Generation g = engine.submit(request, TokenSink.NONE);
                    if (response != null) {
                        response.closeHandler(v -> g.cancel());
                        if (response.closed()) g.cancel(); // gone before the handler was set
                    }
                    return Uni.createFrom().completionStage(g.result()).onCancellation().invoke(g::cancel);
                })
                .map(r -> toOutput(r, request.constraint() != null, hits.shows(request)));
    }

    /** The HTTP response this call answers; null when called without one (the CLI). */
    private HttpServerResponse httpResponse() {
        if (!Arc.container().requestContext().isActive()) return null;
        RoutingContext ctx = http.getCurrent();
        return ctx == null ? null : ctx.response();
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
