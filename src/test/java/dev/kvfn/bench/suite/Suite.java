package dev.kvfn.bench.suite;

import dev.kvfn.bench.suite.Results.Cell;
import dev.kvfn.model.GgufFile;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The benchmark suite: {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.suite.Suite
 * [-Dkvfn.bench.args=--quick] [-Dkvfn.bench.types=Q8_0,Q4_0,Q4_K_M]}.
 * Synthesizes one model per type (through {@code kvfn synth}, kept in target/bench-models), loads it into every
 * engine (kvfn in process, kvfn served, llama.cpp through node-llama-cpp, de.kherud:llama), then measures in rounds,
 * every engine once per figure per round with the order rotating: prefill and decode per type, aggregate decode at
 * 1/4/16 streams and kvfn's time to first token by cache path on the first type. Writes target/bench/results.md,
 * charts (PNG) and the raw values (CSV), and prints the Markdown.
 */
public final class Suite {
    private static final int STREAM_PROMPT = 8;

    private final SuiteOptions o;
    private final Results results;
    private final Path logs;
    private final List<AutoCloseable> resources = new ArrayList<>();
    private final Map<String, List<Peer>> peers = new LinkedHashMap<>();
    private final Map<String, Tokenizer> tokenizers = new LinkedHashMap<>();
    private final Map<String, String> versions = new LinkedHashMap<>();
    private NodeLlama node;
    private CachePaths cachePaths;
    private Progress progress;

    private Suite(SuiteOptions o) throws IOException {
        this.o = o;
        this.results = new Results(o.rounds());
        this.logs = o.outDir().resolve("logs");
        Files.createDirectories(logs);
        Files.createDirectories(o.modelDir());
    }

    public static void main(String[] args) throws Exception {
        SuiteOptions o;
        try {
            o = SuiteOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        try {
            new Suite(o).run(args);
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1); // a thread some library left running must not keep a failed run alive
        }
        System.exit(0); // node, the served apps and the llama.cpp threads are closed; nothing else may hold the JVM
    }

    private void run(String[] args) throws Exception {
        long t0 = System.nanoTime();
        progress = new Progress(System.err, plannedSteps());
        Machine machine;
        try {
            progress.step("measuring memory bandwidth");
            machine = Machine.measure(o.threads(), o.quick() ? 512L << 20 : 1L << 30);
            Map<String, Path> models = new LinkedHashMap<>();
            for (String type : o.types()) {
                progress.step("model " + type);
                models.put(type, model(type));
            }
            load(models);
            warmUp();
            for (int round = 0; round < o.rounds(); round++) round(round);
        } finally {
            progress.close();
            for (var r : resources.reversed()) {
                try {
                    r.close();
                } catch (Exception e) {
                    System.err.println("closing " + r + ": " + e);
                }
            }
        }
        double minutes = (System.nanoTime() - t0) / 60e9;
        Report report = new Report(o, results, machine, versions, command(args), minutes);
        String md = report.markdown();
        Files.writeString(o.outDir().resolve("results.md"), md);
        writeCsv();
        List<Path> charts = Charts.write(o, results, report, o.outDir());
        System.out.println();
        System.out.print(md);
        System.out.printf("%nwritten: %s, %s, %s%n", o.outDir().resolve("results.md"), o.outDir().resolve("results.csv"), charts);
    }

    /** Setup and measurement steps, for the progress bar. */
    private int plannedSteps() {
        int engines = o.engines().size(), types = o.types().size();
        int streamEngines = (o.engines().contains(Peer.KVFN) ? 1 : 0) + (o.engines().contains(Peer.LLAMA_CPP) ? 1 : 0);
        int cache = o.engines().contains(Peer.KVFN) ? 1 : 0;
        int setup = 1 + types + engines * types + cache + engines * types + streamEngines + cache;
        int perRound = types * engines * 2 + o.streamCounts().size() * streamEngines + cache;
        return setup + o.rounds() * perRound;
    }

    /** The synthetic model of {@code type}, written by {@code kvfn synth} once (whatever types its --type accepts). */
    private Path model(String type) throws Exception {
        Path file = o.modelDir().resolve(o.shape() + "-" + type + ".gguf");
        if (Files.exists(file)) return file;
        Path log = logs.resolve("synth-" + type + ".log");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.kvfn.cli.KvfnMain",
                "synth", "--shape", o.shape(), "--type", type, "--out", file.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("kvfn synth could not write a " + o.shape() + " " + type + " model:\n" + Files.readString(log));
        }
        return file;
    }

    private void load(Map<String, Path> models) throws Exception {
        for (String type : o.types()) {
            peers.put(type, new ArrayList<>());
            try (GgufFile gguf = GgufFile.open(models.get(type))) {
                tokenizers.put(type, Tokenizers.fromGguf(gguf));
            }
        }
        int context = o.contextLength();
        int maxStreams = o.streamCounts().stream().mapToInt(Integer::intValue).max().orElse(1);
        int streamContext = STREAM_PROMPT + o.streamTokens() + 8;
        for (String engine : SuiteOptions.ENGINES) {
            if (!o.engines().contains(engine)) continue;
            for (String type : o.types()) {
                progress.step("loading " + engine + " " + type);
                Path model = models.get(type);
                try {
                    Peer peer = switch (engine) {
                        case Peer.KVFN -> new KvfnPeer(model, o.threads(), context);
                        case Peer.SERVED -> new ServedPeer(o.launcher(), model, o.threads(), context, logs);
                        case Peer.LLAMA_CPP -> new LlamaCppPeer(node(), type, model, o.threads(), context,
                                type.equals(o.types().getFirst()) ? maxStreams : 0, streamContext);
                        case Peer.KHERUD -> new KherudPeer(model, o.threads(), context);
                        default -> throw new IllegalArgumentException(engine);
                    };
                    resources.add(peer);
                    peers.get(type).add(peer);
                } catch (Exception | LinkageError e) {
                    leaveOut(engine + " " + type, "could not start: " + e);
                    progress.skip(1 + 2 * o.rounds());
                    if (e instanceof LinkageError) { // a native library that does not load will not load for the next type
                        List<String> rest = o.types().subList(o.types().indexOf(type) + 1, o.types().size());
                        for (String other : rest) leaveOut(engine + " " + other, "not started (its native library did not load)");
                        progress.skip(rest.size() * (2 + 2 * o.rounds()));
                        break;
                    }
                }
            }
        }
        if (o.engines().contains(Peer.KHERUD)) versions.put("kherud", "de.kherud:llama 4.2.0 (the native library its jar bundles: llama.cpp build 4916, OpenMP)");
        if (o.engines().contains(Peer.KVFN)) {
            progress.step("starting redis-server and the cache-path engines");
            try {
                cachePaths = new CachePaths(models.get(o.types().getFirst()), o.threads(), o.cachePrefix(), context);
                resources.add(cachePaths);
            } catch (Exception e) {
                leaveOut("kvfn TTFT by cache path", "could not start: " + e);
                cachePaths = null;
            }
        }
    }

    private NodeLlama node() throws Exception {
        if (node == null) {
            node = new NodeLlama(o.peerScript(), logs);
            resources.addFirst(node); // closed last, after the peers that use it
            versions.put("llama.cpp", node.call(node.command("info")).get("llamaCpp").asText());
        }
        return node;
    }

    /**
     * One untimed pass over every path that is timed later, with prompts of at most 128 tokens: the JITs compile the
     * same code for 128 tokens as for 512, and the caches and pages warm up.
     */
    private void warmUp() throws Exception {
        SplittableRandom rnd = new SplittableRandom(1);
        for (String type : o.types()) {
            Tokenizer tokenizer = tokenizers.get(type);
            List<String> words = Prompt.wordPieces(tokenizer);
            for (Peer peer : List.copyOf(peers.get(type))) {
                progress.step("warm-up " + peer.engine() + " " + type);
                measure(peer, type, "warm-up", () -> {
                    peer.prefill(Prompt.words(tokenizer, words, rnd, Math.min(128, o.promptTokens())));
                    return peer.decode(Prompt.words(tokenizer, words, rnd, 2), 8);
                });
            }
        }
        String first = o.types().getFirst();
        for (Peer peer : List.copyOf(peers.get(first))) {
            if (!peer.engine().equals(Peer.KVFN) && !peer.engine().equals(Peer.LLAMA_CPP)) continue;
            progress.step("warm-up " + peer.engine() + " streams");
            int max = o.streamCounts().getLast();
            measure(peer, first, "warm-up streams", () -> peer.streams(streamPrompts(rnd, first, max), 4).orElse(0));
        }
        if (cachePaths != null) {
            progress.step("warm-up kvfn cache paths");
            try {
                cachePaths.warmUp(rnd, !o.quick());
            } catch (Exception e) {
                leaveOut("kvfn TTFT by cache path", "failed: " + e);
                cachePaths = null;
            }
        }
    }

    private void round(int round) throws Exception {
        SplittableRandom rnd = new SplittableRandom(1000 + round);
        String tag = "round " + (round + 1) + "/" + o.rounds() + " ";
        for (String type : o.types()) {
            Tokenizer tokenizer = tokenizers.get(type);
            List<String> words = Prompt.wordPieces(tokenizer);
            Prompt prompt = Prompt.words(tokenizer, words, rnd, o.promptTokens());
            Prompt decodePrompt = Prompt.words(tokenizer, words, rnd, 2);
            for (Peer peer : rotated(peers.get(type), round)) {
                progress.step(tag + type + " " + peer.engine() + " prefill");
                measure(peer, type, Report.PREFILL, () -> record(Report.PREFILL, type, peer, round, peer.prefill(prompt)));
                if (!peers.get(type).contains(peer)) continue;
                progress.step(tag + type + " " + peer.engine() + " decode");
                measure(peer, type, Report.DECODE, () -> record(Report.DECODE, type, peer, round, peer.decode(decodePrompt, o.decodeTokens())));
            }
        }
        String first = o.types().getFirst();
        for (int n : o.streamCounts()) {
            List<int[]> prompts = streamPrompts(rnd, first, n);
            for (Peer peer : rotated(peers.get(first), round)) {
                if (!peer.engine().equals(Peer.KVFN) && !peer.engine().equals(Peer.LLAMA_CPP)) continue;
                progress.step(tag + n + " streams " + peer.engine());
                measure(peer, first, Report.STREAMS + n, () -> {
                    OptionalDouble v = peer.streams(prompts, o.streamTokens());
                    return v.isPresent() ? record(Report.STREAMS + n, first, peer, round, v.getAsDouble()) : 0;
                });
            }
        }
        if (cachePaths != null) {
            progress.step(tag + "kvfn TTFT by cache path");
            try {
                CachePaths.Times t = cachePaths.measure(rnd);
                results.add(new Cell(Report.TTFT + "cold", first, Peer.KVFN), round, t.coldMs());
                results.add(new Cell(Report.TTFT + "pool", first, Peer.KVFN), round, t.poolMs());
                results.add(new Cell(Report.TTFT + "host", first, Peer.KVFN), round, t.hostMs());
                results.add(new Cell(Report.TTFT + "redis", first, Peer.KVFN), round, t.redisMs());
            } catch (Exception e) {
                leaveOut("kvfn TTFT by cache path", "failed in round " + (round + 1) + ": " + e);
                cachePaths = null;
            }
        }
    }

    private List<int[]> streamPrompts(SplittableRandom rnd, String type, int n) {
        Tokenizer t = tokenizers.get(type);
        List<int[]> prompts = new ArrayList<>();
        for (int s = 0; s < n; s++) prompts.add(Prompt.randomIds(rnd, t.bos(), t.vocabSize(), STREAM_PROMPT));
        return prompts;
    }

    private double record(String figure, String type, Peer peer, int round, double value) {
        results.add(new Cell(figure, type, peer.engine()), round, value);
        return value;
    }

    private interface Measurement {
        double run() throws Exception;
    }

    /** Runs one measurement; an engine that fails is reported and left out of the rest of the run (the others go on). */
    private void measure(Peer peer, String type, String what, Measurement m) {
        try {
            m.run();
        } catch (Exception | LinkageError e) {
            leaveOut(peer.engine() + " " + type, what + " failed: " + e);
            peers.get(type).remove(peer);
        }
    }

    private void leaveOut(String what, String why) {
        results.leftOut(what, why);
        progress.note("left out: " + what + ": " + why);
    }

    private static List<Peer> rotated(List<Peer> list, int by) {
        List<Peer> out = new ArrayList<>(list);
        if (!out.isEmpty()) java.util.Collections.rotate(out, -(by % out.size()));
        return out;
    }

    private void writeCsv() throws IOException {
        StringBuilder csv = new StringBuilder("figure,type,engine,round,value\n");
        for (String figure : results.figures()) {
            for (String type : o.types()) {
                for (String engine : results.engines(figure, type)) {
                    double[] v = results.values(new Cell(figure, type, engine)).orElseThrow();
                    for (int r = 0; r < v.length; r++) csv.append(String.format("%s,%s,%s,%d,%s%n", figure, type, engine, r + 1, v[r]));
                }
            }
        }
        Files.writeString(o.outDir().resolve("results.csv"), csv);
    }

    private String command(String[] args) {
        StringBuilder c = new StringBuilder("./mvnw -B -Pbench verify -Dkvfn.bench.main=" + Suite.class.getName());
        String joined = String.join(" ", args).trim();
        if (!joined.isEmpty()) c.append(" -Dkvfn.bench.args=\"").append(joined).append('"');
        if (!o.types().equals(List.of("Q8_0", "Q4_0"))) c.append(" -Dkvfn.bench.types=").append(String.join(",", o.types()));
        if (o.threads() != 2) c.append(" -Dkvfn.bench.threads=").append(o.threads());
        if (!o.shape().equals(o.quick() ? "llama-135m" : "llama-1b")) c.append(" -Dkvfn.bench.shape=").append(o.shape());
        return c.toString();
    }
}
