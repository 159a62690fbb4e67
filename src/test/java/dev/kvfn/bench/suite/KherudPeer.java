package dev.kvfn.bench.suite;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * {@code de.kherud:llama} 4.2.0: llama.cpp's server loop through JNI, with the native library the jar bundles —
 * what a Java user picks today. Timed around its iterator: to the first output, and from it to the last.
 */
final class KherudPeer implements Peer {
    private final LlamaModel model;

    KherudPeer(Path file, int threads, int contextLength) {
        model = new LlamaModel(new ModelParameters().setModel(file.toAbsolutePath().toString()).setThreads(threads)
                .setThreadsBatch(threads).setCtxSize(contextLength).setBatchSize(512).setUbatchSize(512).setParallel(1)
                .setGpuLayers(0).disableLog()); // its server logs every request to stderr otherwise
    }

    @Override
    public String engine() {
        return KHERUD;
    }

    @Override
    public double prefill(Prompt prompt) {
        long t0 = System.nanoTime();
        long first = 0;
        for (LlamaOutput ignored : model.generate(params(prompt.tokens(), 1))) {
            if (first == 0) first = System.nanoTime();
        }
        if (first == 0) throw new IllegalStateException("kherud produced no output");
        return prompt.length() * 1e9 / (first - t0);
    }

    @Override
    public double decode(Prompt prompt, int tokens) {
        long first = 0, last = 0;
        for (LlamaOutput ignored : model.generate(params(prompt.tokens(), tokens + 1))) {
            last = System.nanoTime();
            if (first == 0) first = last;
        }
        if (last <= first) throw new IllegalStateException("kherud produced fewer than 2 outputs");
        return tokens * 1e9 / (last - first);
    }

    /** Greedy, no prompt cache, exactly {@code n} tokens (EOS ignored) after the prompt given as token ids. */
    private static InferenceParameters params(int[] prompt, int n) {
        InferenceParameters p = new InferenceParameters("").setNPredict(n).setTemperature(0f).setIgnoreEos(true).setCachePrompt(false);
        // Its API takes text only, but llama.cpp's server reads a JSON array of ids as the prompt: put the ids there
        // (its parameters are raw JSON values by name), so every engine gets the very same tokens.
        rawParameters(p).put("prompt", Arrays.stream(prompt).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]")));
        return p;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, String> rawParameters(InferenceParameters p) {
        try {
            Field f = InferenceParameters.class.getSuperclass().getDeclaredField("parameters");
            f.setAccessible(true);
            return (Map<String, String>) f.get(p);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("de.kherud:llama changed: its InferenceParameters has no raw parameter map (" + e + ")", e);
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
