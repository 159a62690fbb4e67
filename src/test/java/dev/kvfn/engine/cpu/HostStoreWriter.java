package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.kv.tier.HostStoreOptions;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Test-only "process A" of the restart tests: loads stories260K with a host store, runs one greedy
 * prompt, waits until its blocks are in the store, prints {@code TOKENS a,b,c} and {@code SPILLED},
 * then either exits cleanly ({@code exit}) or hangs until killed ({@code hang}).
 * Args: model.bin tokenizer.bin storeDir storeBytes maxTokens exit|hang prompt
 */
public final class HostStoreWriter {
    public static void main(String[] args) throws Exception {
        var options = EngineOptions.defaults(1).withKv(dev.kvfn.kv.KvElementType.F32, 16)
                .withHostStore(HostStoreOptions.at(Path.of(args[2]), Long.parseLong(args[3])));
        CpuEngine engine = CpuEngine.load(Path.of(args[0]), Path.of(args[1]), options);
        int[] prompt = engine.tokenizer().encode(args[6], true, false);
        GenerationResult r = engine.submit(new GenerationRequest(prompt, Integer.parseInt(args[4]), SamplingParams.GREEDY), null)
                .result().get(60, TimeUnit.SECONDS);
        if (!engine.persist(java.time.Duration.ofSeconds(30))) throw new IllegalStateException("host store did not flush");
        System.out.println("TOKENS " + Arrays.stream(r.tokens()).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        System.out.println("SPILLED");
        System.out.flush();
        if (args[5].equals("hang")) {
            Thread.sleep(Long.MAX_VALUE); // killed with SIGKILL by the test: no close, no shutdown hook
        }
        engine.close();
    }
}
