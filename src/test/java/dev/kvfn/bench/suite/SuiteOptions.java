package dev.kvfn.bench.suite;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What one run of the {@link Suite} measures and how long it takes.
 *
 * @param quick           the short mode (small prompts, two rounds): checks that everything runs, in minutes
 * @param shape           synthetic model shape ({@code llama-1b}; {@code llama-135m} with --quick)
 * @param types           weight types, one synthetic model each, as {@code kvfn synth --type} names them
 * @param threads         compute threads of every engine
 * @param rounds          measurement rounds; every figure is measured once per round, peers interleaved
 * @param promptTokens    prefill prompt length (the "pp" figure)
 * @param decodeTokens    decode length after the first token (the "tg" figure)
 * @param streamCounts    concurrent streams for the aggregate decode figure
 * @param streamTokens    tokens per stream (after an 8-token prompt)
 * @param cachePrefix     tokens of the prompt that the TTFT-by-cache-path figure finds cached (whole blocks)
 * @param engines         engines to run: kvfn, served, llama.cpp, kherud
 * @param modelDir        where synthesized models are kept between runs
 * @param outDir          results.md, the charts and the logs
 * @param launcher        the packaged app ({@code target/kvfn}) for the served engine
 * @param peerScript      the node-llama-cpp driver script
 */
public record SuiteOptions(boolean quick, String shape, List<String> types, int threads, int rounds, int promptTokens,
                           int decodeTokens, List<Integer> streamCounts, int streamTokens, int cachePrefix,
                           Set<String> engines, Path modelDir, Path outDir, Path launcher, Path peerScript) {

    public static final List<String> ENGINES = List.of(Peer.KVFN, Peer.SERVED, Peer.LLAMA_CPP, Peer.KHERUD);

    static final String USAGE = """
            usage: Suite [--quick] [--rounds N] [--types Q8_0,Q4_0] [--engines kvfn,served,llama.cpp,kherud] [--threads N]
              system properties: kvfn.bench.types, kvfn.bench.threads, kvfn.bench.shape, kvfn.bench.dir (models),
              kvfn.bench.out (default target/bench), kvfn.bench.launcher (default target/kvfn)""";

    public SuiteOptions {
        if (types.isEmpty()) throw new IllegalArgumentException("no model types given");
        if (threads < 1 || rounds < 1) throw new IllegalArgumentException("threads and rounds must be >= 1");
        if (cachePrefix % 16 != 0 || cachePrefix < 16) throw new IllegalArgumentException("cache prefix must be whole 16-token blocks");
        for (String e : engines) {
            if (!ENGINES.contains(e)) throw new IllegalArgumentException("unknown engine '" + e + "'; valid: " + ENGINES);
        }
        types = List.copyOf(types);
        streamCounts = List.copyOf(streamCounts);
        engines = Set.copyOf(new LinkedHashSet<>(engines));
    }

    /** Arguments override system properties; the mode sets the sizes. */
    public static SuiteOptions parse(String[] rawArgs) {
        List<String> args = new ArrayList<>();
        for (String a : rawArgs) {
            for (String part : a.trim().split("\\s+")) if (!part.isEmpty()) args.add(part); // -Dkvfn.bench.args="--quick --rounds 3"
        }
        boolean quick = false;
        Integer rounds = null;
        String types = System.getProperty("kvfn.bench.types", "Q8_0,Q4_0");
        String engines = String.join(",", ENGINES);
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--quick" -> quick = true;
                case "--full" -> quick = false;
                case "--rounds" -> rounds = Integer.parseInt(value(args, ++i, a));
                case "--types" -> types = value(args, ++i, a);
                case "--engines" -> engines = value(args, ++i, a);
                case "--threads" -> threads = Integer.parseInt(value(args, ++i, a));
                default -> throw new IllegalArgumentException("unknown argument '" + a + "'\n" + USAGE);
            }
        }
        // The full run's sizes keep it under 15 minutes on a quiet 2-core machine (3 rounds of ~4 minutes on llama-1b):
        // 16-token streams and a 240-token cached prefix (it had 32 and 496, and 4 rounds: 26.7 minutes)
        int cachePrefix = quick ? 112 : 240;
        // --quick checks that every engine and figure runs, in minutes: on llama-135m, about 8x less work per token than
        // llama-1b (on llama-1b it took 4.8 minutes here); the targets are measured by the full run, on llama-1b
        return new SuiteOptions(quick, dev.kvfn.bench.Bench.shape(quick ? "llama-135m" : "llama-1b"), split(types), threads,
                rounds != null ? rounds : quick ? 2 : 3, quick ? 128 : 512, quick ? 32 : 128, List.of(1, 4, 16),
                16, cachePrefix, new LinkedHashSet<>(split(engines)),
                Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models")),
                Path.of(System.getProperty("kvfn.bench.out", "target/bench")),
                Path.of(System.getProperty("kvfn.bench.launcher", "target/kvfn")),
                Path.of(System.getProperty("kvfn.bench.peer", "src/test/llamacpp/bench-peer.mjs")));
    }

    private static String value(List<String> args, int i, String flag) {
        if (i >= args.size()) throw new IllegalArgumentException(flag + " needs a value\n" + USAGE);
        return args.get(i);
    }

    private static List<String> split(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    /** Positions each engine needs: the longest of the prefill and decode prompts, with room. */
    int contextLength() {
        return Math.max(1024, Math.max(promptTokens, cachePrefix + 16) + decodeTokens + 16);
    }

    String mode() {
        return quick ? "--quick" : "full";
    }
}
