package dev.kvfn.bench.suite;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;
import java.util.OptionalDouble;

/** Native llama.cpp (node-llama-cpp's prebuilt CPU libraries) on one model, timed inside the node process. */
final class LlamaCppPeer implements Peer {
    private final NodeLlama node;
    private final String id;

    LlamaCppPeer(NodeLlama node, String id, Path model, int threads, int contextLength, int maxStreams, int streamContext)
            throws Exception {
        this.node = node;
        this.id = id;
        ObjectNode load = node.command("load").put("id", id).put("path", model.toAbsolutePath().toString()).put("threads", threads)
                .put("contextSize", contextLength).put("batchSize", 512).put("streams", maxStreams).put("streamContextSize", streamContext);
        node.call(load);
    }

    @Override
    public String engine() {
        return LLAMA_CPP;
    }

    @Override
    public double prefill(Prompt prompt) throws Exception {
        ObjectNode c = node.command("prefill").put("id", id);
        NodeLlama.putTokens(c, "tokens", prompt.tokens());
        return prompt.length() * 1e9 / node.call(c).get("ttftNanos").asDouble();
    }

    @Override
    public double decode(Prompt prompt, int tokens) throws Exception {
        ObjectNode c = node.command("decode").put("id", id).put("n", tokens + 1);
        NodeLlama.putTokens(c, "tokens", prompt.tokens());
        JsonNode r = node.call(c);
        int produced = r.get("tokens").asInt();
        if (produced < 2) throw new IllegalStateException("llama.cpp produced " + produced + " token(s)");
        return (produced - 1) * 1e9 / r.get("decodeNanos").asDouble();
    }

    @Override
    public OptionalDouble streams(List<int[]> prompts, int tokens) throws Exception {
        ObjectNode c = node.command("streams").put("id", id).put("n", tokens);
        NodeLlama.putPrompts(c, prompts);
        JsonNode times = node.call(c).get("times");
        long[][] t = new long[times.size()][];
        for (int s = 0; s < t.length; s++) {
            JsonNode one = times.get(s);
            t[s] = new long[one.size()];
            for (int i = 0; i < t[s].length; i++) t[s][i] = one.get(i).asLong();
        }
        return OptionalDouble.of(Streams.aggregate(t));
    }

    @Override
    public void close() {
        // the node process holds the model until the suite closes it
    }
}
