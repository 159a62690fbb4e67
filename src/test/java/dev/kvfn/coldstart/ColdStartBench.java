package dev.kvfn.coldstart;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Cold start of the packaged app, per start-up variant and model: N process starts each, variants interleaved,
 * reporting min / median / max of process start → HTTP ready (management readiness 200), → first streamed token of a
 * 64-token prompt, → first token of a long prompt (1024 tokens, or the context less 16 when that is shorter) whose
 * prefix is warm in the host store, and peak RSS. Each start serves one request, so both first-token times are
 * measured from a cold process; every prompt starts with its own words, so nothing but the warm prefix is cached.
 *
 * <pre>
 * ./mvnw -B package -DskipTests
 * java -cp target/test-classes dev.kvfn.coldstart.ColdStartBench [--runs 5] [--models builtin,stories260K,llama-1b]
 *      [--variants aot,appcds,plain,aot-scalar,fastjar] [--target target]
 * </pre>
 * Variants: {@code aot} = {@code target/kvfn} with the Vector API module ({@code KVFN_VECTOR=on}) and the build's AOT
 * cache, what it does for a model of 4 MiB or more; {@code aot-scalar} = no Vector API module ({@code KVFN_VECTOR=off}:
 * the JDK's archived module graph stays usable, the kernels are scalar) with its own AOT cache, what it does for the
 * built-in model and smaller files; {@code aot-scalar-c1} = {@code aot-scalar} with C1 only ({@code -XX:TieredStopAtLevel=1}:
 * less JIT work at start-up, much slower code after it); {@code plain} = {@code aot} without a cache ({@code KVFN_AOT_CACHE=off});
 * {@code aot@FILE} = {@code aot} with the cache in FILE ({@code KVFN_AOT_CACHE=FILE}, e.g. one trained another way);
 * {@code appcds} = {@code aot} with a dynamic AppCDS archive trained like the AOT cache instead; {@code fastjar} = Quarkus's fast-jar layout without a cache, from
 * {@code target/coldstart/fast-jar} (see README "Cold start" for the two commands that make it). Missing caches are
 * trained first ({@link AotTraining}); llama-1b Q8_0 is synthesized into {@code target/bench-models} when absent.
 */
public final class ColdStartBench {
    record Model(String name, Map<String, String> env, int context) {}

    record Variant(String name, Path launcher, Map<String, String> env) {}

    /** @param poolTtftMs for a long prompt: the same process's time to first token of another prompt on the same prefix, now in its pool */
    record Sample(double readyMs, double firstTokenMs, double poolTtftMs, double rssMiB) {}

    private ColdStartBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        Path target = Path.of(opts.getOrDefault("target", "target")).toAbsolutePath();
        int runs = Integer.parseInt(opts.getOrDefault("runs", "5"));
        Path shared = Path.of(opts.getOrDefault("models-dir", System.getProperty("kvfn.shared.models", "../shared/models"))).toAbsolutePath();
        List<Model> models = new ArrayList<>();
        for (String m : opts.getOrDefault("models", "builtin,stories260K,llama-1b").split(",")) models.add(model(m.strip(), target, shared));
        List<Variant> variants = new ArrayList<>();
        for (String v : opts.getOrDefault("variants", "aot,appcds,plain,aot-scalar,fastjar").split(",")) {
            Variant variant = variant(v.strip(), target);
            if (variant != null) variants.add(variant);
        }
        Path work = Files.createDirectories(target.resolve("coldstart"));
        String loadBefore = Files.readString(Path.of("/proc/loadavg")).strip();
        System.out.printf("cold start: %d runs per variant, model and prompt; load average before: %s; %d cores%n", runs, loadBefore,
                Runtime.getRuntime().availableProcessors());

        System.out.println("| model | variant | ready ms min / median / max | first token, short prompt | first token, long prompt (warm prefix) "
                + "| then: TTFT, prefix in the pool | long prompt's first token / (2 × pool TTFT + ready) | peak RSS MiB |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (Model model : models) {
            Path hostStore = Files.createDirectories(work.resolve("host-" + model.name()));
            Prompts prompts = prepare(target, model, hostStore, work, runs, variants);
            Map<String, List<Sample>> byVariant = new LinkedHashMap<>(); // variant/kind -> samples
            for (int run = 0; run < runs; run++) {
                for (String kind : List.of("short", "long")) {
                    for (int k = 0; k < variants.size(); k++) {
                        Variant v = variants.get((k + run) % variants.size()); // rotate who goes first
                        String prompt = kind.equals("short") ? prompts.shortPrompt(v.name(), run) : prompts.longPrompt(v.name(), run);
                        String again = kind.equals("short") ? null : prompts.longPrompt(v.name(), run + 1000);
                        Sample s = measure(v, model, hostStore, work, prompt, again);
                        byVariant.computeIfAbsent(v.name() + "/" + kind, x -> new ArrayList<>()).add(s);
                    }
                }
            }
            // each model's rows as soon as they are measured: a long run that is stopped keeps what it has
            for (Variant v : variants) {
                List<Sample> shortRuns = byVariant.get(v.name() + "/short");
                List<Sample> longRuns = byVariant.get(v.name() + "/long");
                List<Sample> all = new ArrayList<>(shortRuns);
                all.addAll(longRuns);
                // issue 17's llama-1b target, per start: first token of the warm long prompt <= 2x the in-pool TTFT plus ready
                double[] targetRatio = longRuns.stream().mapToDouble(x -> x.firstTokenMs() / (2 * x.poolTtftMs() + x.readyMs())).toArray();
                System.out.printf("| %s (%d / %d tokens) | %s | %s | %s | %s | %s | %s | %s |%n", model.name(), prompts.shortTokens, prompts.longTokens,
                        v.name(), stats(all.stream().mapToDouble(Sample::readyMs).toArray()),
                        stats(shortRuns.stream().mapToDouble(Sample::firstTokenMs).toArray()),
                        stats(longRuns.stream().mapToDouble(Sample::firstTokenMs).toArray()),
                        stats(longRuns.stream().mapToDouble(Sample::poolTtftMs).toArray()),
                        ratios(targetRatio),
                        stats(all.stream().mapToDouble(Sample::rssMiB).toArray()));
            }
            System.out.printf("(load average after %s: %s)%n", model.name(), Files.readString(Path.of("/proc/loadavg")).strip());
        }
    }

    static String ratios(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
        return String.format("%.2f / %.2f / %.2f", v[0], median, v[v.length - 1]);
    }

    static String stats(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
        return String.format("%.0f / %.0f / %.0f", v[0], median, v[v.length - 1]);
    }

    static Model model(String name, Path target, Path shared) throws Exception {
        return switch (name) {
            case "builtin" -> new Model(name, Map.of(), 256);
            case "stories260K" -> {
                AppProcess.requireExists(shared.resolve("stories260K.bin"), "stories260K.bin");
                yield new Model(name, Map.of("KVFN_MODEL_PATH", shared.resolve("stories260K.bin").toString(),
                        "KVFN_MODEL_TOKENIZER", shared.resolve("tok512.bin").toString()), 512);
            }
            case "llama-1b" -> {
                Path file = target.resolve("bench-models").resolve("llama-1b-Q8_0.gguf");
                if (!Files.exists(file)) {
                    Files.createDirectories(file.getParent());
                    System.out.println("synthesizing " + file + " ...");
                    Process p = new ProcessBuilder(target.resolve("kvfn").toString(), "synth", "--shape", "llama-1b", "--type", "Q8_0",
                            "--out", file.toString()).inheritIO().start();
                    if (p.waitFor() != 0) throw new IllegalStateException("kvfn synth failed");
                }
                yield new Model(name, Map.of("KVFN_MODEL_PATH", file.toString()), 4096);
            }
            default -> throw new IllegalArgumentException("unknown model " + name + ": builtin, stories260K or llama-1b");
        };
    }

    static Variant variant(String name, Path target) throws Exception {
        Path launcher = target.resolve("kvfn");
        if (name.startsWith("aot@")) { // another cache file for the same launcher, e.g. one trained differently
            Path cache = Path.of(name.substring(4)).toAbsolutePath();
            return new Variant("aot@" + cache.getFileName(), launcher, Map.of("KVFN_VECTOR", "on", "KVFN_AOT_CACHE", cache.toString()));
        }
        return switch (name) {
            case "aot" -> {
                ensureCache(target, "aot", false);
                yield new Variant(name, launcher, Map.of("KVFN_VECTOR", "on"));
            }
            case "aot-scalar" -> {
                ensureCache(target, "aot", true);
                yield new Variant(name, launcher, Map.of("KVFN_VECTOR", "off"));
            }
            case "aot-scalar-c1" -> {
                ensureCache(target, "aot", true);
                yield new Variant(name, launcher, Map.of("KVFN_VECTOR", "off", "KVFN_JAVA_OPTS", "-XX:TieredStopAtLevel=1"));
            }
            case "appcds" -> {
                Path jsa = ensureCache(target, "appcds", false);
                yield new Variant(name, launcher, Map.of("KVFN_VECTOR", "on", "KVFN_AOT_CACHE", "off", "KVFN_JAVA_OPTS", "-XX:SharedArchiveFile=" + jsa));
            }
            case "plain" -> new Variant(name, launcher, Map.of("KVFN_VECTOR", "on", "KVFN_AOT_CACHE", "off"));
            case "fastjar" -> {
                Path fast = target.resolve("coldstart").resolve("fast-jar").resolve("kvfn");
                if (!Files.exists(fast)) {
                    System.out.println("variant fastjar skipped: no " + fast + " (README \"Cold start\" says how to build it)");
                    yield null;
                }
                yield new Variant(name, fast, Map.of("KVFN_VECTOR", "on", "KVFN_AOT_CACHE", "off"));
            }
            default -> throw new IllegalArgumentException("unknown variant " + name + ": aot, aot-scalar, aot-scalar-c1, appcds, plain or fastjar");
        };
    }

    static Path ensureCache(Path target, String kind, boolean scalar) throws Exception {
        Path out = AotTraining.output(target, kind, scalar);
        if (!Files.exists(out)) {
            System.out.println("training " + out.getFileName() + " ...");
            AotTraining.train(target, kind, scalar);
        }
        return out;
    }

    /** Run-unique prompts of about the two lengths; the long ones share one prefix, made warm in the host store here. */
    static final class Prompts {
        final String warmPrefix;
        final int shortTokens, longTokens;
        final int shortWords, tailWords;

        Prompts(String warmPrefix, int shortTokens, int longTokens, int shortWords, int tailWords) {
            this.warmPrefix = warmPrefix;
            this.shortTokens = shortTokens;
            this.longTokens = longTokens;
            this.shortWords = shortWords;
            this.tailWords = tailWords;
        }

        String shortPrompt(String variant, int run) {
            return "Tale " + variant + " " + run + ": " + words(run * 7 + variant.length(), shortWords);
        }

        String longPrompt(String variant, int run) {
            return warmPrefix + " Then " + variant + " " + run + " " + words(run * 13 + variant.length(), tailWords);
        }
    }

    static final String[] WORDS = ("once upon a time there was a little girl named lily she loved to play outside in the park "
            + "one day saw big red ball wanted with it but too high mom said let go sad and did not want dog cat tree sun "
            + "happy friends ran jumped laughed home mother father boy tom small bird sky blue green flower garden").split(" ");

    static String words(int seed, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(i == 0 ? "" : " ").append(WORDS[Math.floorMod(seed * 31 + i * 17 + i * i, WORDS.length)]);
        return b.toString();
    }

    /**
     * A plain process on the model sizes the prompts with /tokenize and warms the long prompt's prefix into the host
     * store; one more process per other kernel family among the variants warms it again, since block keys bind the
     * kernels' numerics (a scalar process's blocks are a miss for a Vector API one).
     */
    static Prompts prepare(Path target, Model model, Path hostStore, Path work, int runs, List<Variant> variants) throws Exception {
        int longTarget = Math.min(1024, model.context() - 16);
        List<String> kernels = variants.stream().map(v -> v.env().getOrDefault("KVFN_VECTOR", "auto")).distinct().toList();
        Map<String, String> env = new HashMap<>(model.env());
        env.put("KVFN_AOT_CACHE", "off");
        env.put("KVFN_KV_HOST_STORE_PATH", hostStore.toString());
        for (String other : kernels.subList(1, kernels.size())) {
            Map<String, String> warmEnv = new HashMap<>(env);
            warmEnv.put("KVFN_VECTOR", other);
            try (AppProcess app = AppProcess.start(target.resolve("kvfn"), warmEnv, work.resolve("prepare-" + model.name() + "-" + other + ".log"))) {
                app.awaitReady(Duration.ofMinutes(5));
                app.post("/warm", "{\"prompt\": " + AppProcess.json(longPrefix(app, longTarget)) + "}");
                app.stop(Duration.ofMinutes(2));
            }
        }
        env.put("KVFN_VECTOR", kernels.getFirst());
        try (AppProcess app = AppProcess.start(target.resolve("kvfn"), env, work.resolve("prepare-" + model.name() + ".log"))) {
            app.awaitReady(Duration.ofMinutes(5));
            int shortWords = wordsFor(app, 64, n -> "Tale aot-scalar 0: " + words(0, n));
            String prefix = longPrefix(app, longTarget);
            int tailWords = Math.max(1, wordsFor(app, longTarget, n -> prefix + " Then aot-scalar 0 " + words(0, n)));
            app.post("/warm", "{\"prompt\": " + AppProcess.json(prefix) + "}");
            Prompts p = new Prompts(prefix, 0, 0, shortWords, tailWords);
            int shortTokens = tokens(app, p.shortPrompt(variants.getFirst().name(), 0));
            int longTokens = tokens(app, p.longPrompt(variants.getFirst().name(), 0));
            app.stop(Duration.ofMinutes(2));
            return new Prompts(prefix, shortTokens, longTokens, shortWords, tailWords);
        }
    }

    /** The long prompt's shared prefix: as many words as fit 16 tokens short of {@code longTarget}. */
    static String longPrefix(AppProcess app, int longTarget) throws IOException, InterruptedException {
        return words(99, wordsFor(app, longTarget - 16, n -> words(99, n)));
    }

    static int tokens(AppProcess app, String text) throws IOException, InterruptedException {
        return AppProcess.intField(app.post("/tokenize", "{\"text\": " + AppProcess.json(text) + "}"), "count");
    }

    /** The most words whose text stays within {@code tokens} tokens. */
    static int wordsFor(AppProcess app, int tokens, java.util.function.IntFunction<String> text) throws IOException, InterruptedException {
        int lo = 0, hi = tokens; // a word is at least one token
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (tokens(app, text.apply(mid)) <= tokens) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /** One start: ready, the first token of {@code prompt}, then (when {@code again} is given) that prompt's TTFT. */
    static Sample measure(Variant v, Model model, Path hostStore, Path work, String prompt, String again) throws Exception {
        Map<String, String> env = new HashMap<>(model.env());
        env.putAll(v.env());
        env.put("KVFN_KV_HOST_STORE_PATH", hostStore.toString());
        try (AppProcess app = AppProcess.start(v.launcher(), env, work.resolve("run-" + model.name() + "-" + v.name() + ".log"))) {
            double ready = app.awaitReady(Duration.ofMinutes(5));
            double first = app.firstTokenMillis(prompt, 1);
            double poolTtft = Double.NaN;
            if (again != null) {
                double sent = app.sinceStartMillis();
                poolTtft = app.firstTokenMillis(again, 1) - sent;
            }
            double rss = app.peakRssMiB();
            app.stop(Duration.ofMinutes(2));
            return new Sample(ready, first, poolTtft, rss);
        }
    }
}
