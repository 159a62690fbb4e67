package dev.kvfn.cli;

import dev.kvfn.function.BadRequestException;
import dev.kvfn.function.GenerateFunction;
import dev.kvfn.function.GenerateInput;
import dev.kvfn.function.GenerateOutput;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.WeightTypes;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.QuarkusApplication;
import io.quarkus.runtime.annotations.QuarkusMain;
import jakarta.inject.Inject;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * The one entry point: with no arguments kvfn serves; {@code generate} and {@code synth} run once and exit.
 * Exit status: 0 done, 1 failed, 2 bad command line.
 */
@QuarkusMain
public class KvfnMain implements QuarkusApplication {

    static final String USAGE = """
            usage: kvfn                      serve the function (HTTP :8080, CloudEvents)
                   kvfn generate --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K]
                                 [--min-p P] [--seed S] [--stop STR]...
                                             complete TEXT with the configured model (KVFN_MODEL_PATH) and print it
                   kvfn synth --shape tiny|llama-135m|llama-1b --type TYPE --out FILE.gguf [--seed S]
                              [--arch llama|qwen2|qwen3|phi3]
                                             write a synthetic model with deterministic random weights; TYPE one of
                                             F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q4_K Q5_K Q6_K
                                             (every matrix), or llama.cpp's mixtures Q4_K_M Q5_K_M Q3_K_S Q3_K_M
                                             Q3_K_L Q2_K_M (llama-quantize's Q2_K); K-quant rows not a multiple of
                                             256 fall back to IQ4_NL/Q5_0/Q5_1/Q8_0""";

    @Inject
    GenerateFunction generate;

    public static void main(String... args) {
        if (args.length > 0 && args[0].equals("synth")) {
            System.exit(synth(args, System.out, System.err));
        }
        if (args.length > 0 && (args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println(USAGE);
            System.exit(0);
        }
        if (args.length > 0) {
            // one-shot command: boot config and engine, but open no HTTP port and keep stderr for what matters
            System.setProperty("quarkus.http.host-enabled", "false");
            System.setProperty("quarkus.log.category.\"io.quarkus\".level", "WARN");
        }
        Quarkus.run(KvfnMain.class, args);
    }

    @Override
    public int run(String... args) {
        if (args.length == 0) {
            Quarkus.waitForExit();
            return 0;
        }
        return switch (args[0]) {
            case "generate" -> generate(args, System.out, System.err);
            case "synth" -> synth(args, System.out, System.err);
            default -> {
                System.err.println("kvfn: unknown command '" + args[0] + "'\n" + USAGE);
                yield 2;
            }
        };
    }

    int generate(String[] args, PrintStream out, PrintStream err) {
        try {
            CommandLine cl = CommandLine.parse(args, 1,
                    Set.of("prompt", "max-tokens", "temperature", "top-p", "top-k", "min-p", "seed", "stop", "cache-salt"));
            if (cl.string("prompt") == null) throw new CommandLine.UsageException("--prompt is required");
            GenerateInput input = new GenerateInput(cl.string("prompt"), cl.integer("max-tokens"), cl.real("temperature"),
                    cl.real("top-p"), cl.integer("top-k"), cl.real("min-p"), cl.longValue("seed"), cl.all("stop"),
                    cl.string("cache-salt"));
            GenerateOutput result = generate.generate(input).await().atMost(Duration.ofHours(1));
            out.println(result.text());
            // cached tokens and ttft are absent when kvfn.kv.report-cached-tokens hides this request's cache hits
            String ttft = result.ttftMillis() == null ? "" : String.format(", ttft %.1f ms", result.ttftMillis());
            String cached = result.cachedTokens() == null ? "" : " (" + result.cachedTokens() + " cached)";
            err.printf("[%d prompt%s + %d completion tokens, finish %s%s, decode %.1f tokens/s]%n",
                    result.promptTokens(), cached, result.completionTokens(), result.finishReason(), ttft,
                    result.decodeTokensPerSecond());
            return 0;
        } catch (CommandLine.UsageException | BadRequestException e) {
            err.println("kvfn generate: " + e.getMessage() + "\n" + USAGE);
            return 2;
        } catch (RuntimeException e) {
            err.println("kvfn generate: failed: " + e.getMessage());
            return 1;
        }
    }

    static int synth(String[] args, PrintStream out, PrintStream err) {
        try {
            CommandLine cl = CommandLine.parse(args, 1, Set.of("shape", "type", "out", "seed", "arch"));
            String shape = cl.string("shape");
            String type = cl.string("type");
            String file = cl.string("out");
            if (shape == null || type == null || file == null) {
                throw new CommandLine.UsageException("--shape, --type and --out are required");
            }
            WeightTypes weightTypes;
            SyntheticModel.Shape s;
            SyntheticModel.Arch arch;
            try {
                weightTypes = WeightTypes.byName(type);
                s = SyntheticModel.Shape.byName(shape);
                String archName = cl.string("arch");
                arch = archName == null ? SyntheticModel.Arch.LLAMA : SyntheticModel.Arch.byName(archName);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.UsageException(e.getMessage());
            }
            Long seed = cl.longValue("seed");
            long t0 = System.nanoTime();
            SyntheticModel.write(arch, s, weightTypes, seed == null ? 1L : seed, Path.of(file));
            out.printf("wrote %s (%s %s %s) in %.1f s%n", file, arch.ggufName(), shape, weightTypes, (System.nanoTime() - t0) / 1e9);
            return 0;
        } catch (CommandLine.UsageException e) {
            err.println("kvfn synth: " + e.getMessage() + "\n" + USAGE);
            return 2;
        } catch (Exception e) {
            err.println("kvfn synth: failed: " + e.getMessage());
            return 1;
        }
    }
}
