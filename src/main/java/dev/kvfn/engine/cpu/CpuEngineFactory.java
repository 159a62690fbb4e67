package dev.kvfn.engine.cpu;

import dev.kvfn.config.EngineConfig;
import dev.kvfn.config.KvConfig;
import dev.kvfn.config.LimitsConfig;
import dev.kvfn.config.ModelConfig;
import dev.kvfn.config.SchedulerConfig;
import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.seal.KvSecret;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.RemoteKvTier;
import dev.kvfn.kv.tier.SpillPolicy;
import dev.kvfn.model.SyntheticModel;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds the CPU engine from configuration ({@code kvfn.model.*}, {@code kvfn.engine.*},
 * {@code kvfn.kv.*}, {@code kvfn.scheduler.*}). With no model configured it serves a built-in
 * synthetic tiny model, so the function runs out of the box. Bad values and bad model files fail
 * with an {@link IllegalArgumentException} or a {@link dev.kvfn.model.ModelFormatException} whose
 * message names the key or file and the reason.
 */
public final class CpuEngineFactory {
    private static final Logger LOG = Logger.getLogger(CpuEngineFactory.class);

    private CpuEngineFactory() {}

    /** @param remote the shared KV tier, or null */
    public static CpuEngine create(ModelConfig model, EngineConfig engine, KvConfig kv, SchedulerConfig scheduler,
                                   LimitsConfig limits, RemoteKvTier remote) {
        EngineOptions options = options(engine, kv, scheduler, limits.maxRequests()).withRemote(kv.prefixCaching() ? remote : null);
        Path path = model.path().orElse(null);
        if (path == null) {
            try {
                path = SyntheticModel.tinyTempFile();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the built-in synthetic model", e);
            }
            LOG.warnf("No model configured (kvfn.model.path / KVFN_MODEL_PATH): serving the built-in synthetic tiny model. "
                    + "Its text is meaningless; point KVFN_MODEL_PATH at a Llama-family GGUF for real text.");
        }
        CpuEngine loaded = CpuEngine.load(path, model.tokenizer().orElse(null), options);
        var layout = loaded.kvLayout();
        var pool = loaded.stats().pool();
        boolean vector = Matrices.vectorKernels();
        long modelBytes = modelBytes(path);
        if (!vector && modelBytes >= SCALAR_WARN_BYTES) {
            LOG.warnf("Scalar kernels: this JVM was started without the Vector API module (jdk.incubator.vector), and a model of "
                    + "%d MiB decodes 20-40 times slower without it; start it with KVFN_VECTOR=on (target/kvfn) or "
                    + "--add-modules jdk.incubator.vector", modelBytes >> 20);
        }
        LOG.infof("Serving %s (%s, context %d, vocab %d) on %d threads, %s kernels; KV pool %d blocks x %d tokens (%s, %.0f bytes/token, %d MiB), model fingerprint %s",
                loaded.model().name(), loaded.model().source(), loaded.model().contextLength(), loaded.model().vocabSize(),
                options.threads(), vector ? "Vector API" : "scalar", pool.total(), layout.blockTokens(), layout.elementType().configName(), layout.bytesPerToken(),
                pool.total() * layout.blockBytes() >> 20, loaded.fingerprint().shortHex());
        String host = loaded.hostStoreDescription();
        LOG.infof("KV host store: %s", host == null ? "off" : host);
        return loaded;
    }

    /**
     * Above this size the scalar kernels cost real throughput (the launcher picks them only for smaller models, where
     * the Vector API module's start-up cost is not won back).
     */
    static final long SCALAR_WARN_BYTES = 4L << 20;

    static long modelBytes(Path path) {
        try {
            return Files.size(path);
        } catch (IOException e) {
            return 0; // the loader has read it; a size we cannot get only skips the advice
        }
    }

    /** The engine's sizing from config; the scheduler's queue is bounded by {@code maxRequests} (one limit answers 429). */
    static EngineOptions options(EngineConfig engine, KvConfig kv, SchedulerConfig scheduler, int maxRequests) {
        int context = engine.contextLength();
        if (context < 0) throw new IllegalArgumentException("kvfn.engine.context-length must be >= 0, got " + context);
        var host = kv.hostStore();
        HostStoreOptions hostStore = !host.enabled() || !kv.prefixCaching() ? null : new HostStoreOptions(HostStoreOptions.perUser(host.path()),
                host.bytes().asLongValue(), SpillPolicy.parse(host.policy()), host.queueBlocks(), kv.prewarm().blocks(),
                kv.secret().map(KvSecret::of).orElse(null));
        return new EngineOptions(engine.effectiveThreads(), context == 0 ? Integer.MAX_VALUE : context,
                KvElementType.parse(kv.elementType()), kv.blockTokens(),
                kv.poolBytes().map(m -> m.asLongValue()).orElse(0L), kv.memoryFraction(), kv.prefixCaching(),
                scheduler.maxStepTokens(), scheduler.maxSeqs(), Math.max(1, maxRequests), hostStore, null, engine.computeNice());
    }
}
