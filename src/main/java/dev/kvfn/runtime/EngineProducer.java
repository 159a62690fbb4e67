package dev.kvfn.runtime;

import dev.kvfn.config.EngineConfig;
import dev.kvfn.config.KvConfig;
import dev.kvfn.config.SchedulerConfig;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.HostStoreOptions;
import dev.kvfn.kv.HostTier;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.redis.RedisKvTier;
import dev.kvfn.config.LimitsConfig;
import dev.kvfn.config.ModelConfig;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.function.ChatTemplate;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import io.quarkus.runtime.configuration.ConfigurationException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Loads the one engine of this process at start-up, from {@code kvfn.model.*} and {@code kvfn.engine.*}.
 * With no model configured it serves a built-in synthetic tiny model, so the function runs out of the box.
 */
@ApplicationScoped
public class EngineProducer {
    private static final Logger LOG = Logger.getLogger(EngineProducer.class);

    @Produces
    @Singleton
    @Startup
    Engine engine(ModelConfig model, EngineConfig engine, KvConfig kv, SchedulerConfig scheduler, LimitsConfig limits,
                  MeterRegistry registry, jakarta.enterprise.inject.Instance<io.vertx.redis.client.Redis> redis) {
        EngineOptions options = options(engine, kv, scheduler);
        var hosts = org.eclipse.microprofile.config.ConfigProvider.getConfig().getOptionalValue("quarkus.redis.hosts", String.class);
        if (hosts.isPresent() && options.hostStore() != null) {
            var r = kv.redis();
            options = options.withRemote(new RedisKvTier(redis.get(), r.storeBytes(), r.lookupTimeout(), r.fetchTimeout(), r.ttl(),
                    replicaName(), r.maxInFlight()));
            LOG.infof("KV index and blocks shared through Redis (store-bytes=%s, lookup deadline %s)", r.storeBytes(), r.lookupTimeout());
        } else if (hosts.isPresent()) {
            LOG.warnf("quarkus.redis.hosts is set but the host store is disabled: the Redis KV tier needs it and is off");
        }
        Engine loaded = load(model, options);
        if (loaded instanceof CpuEngine cpu) {
            String host = cpu.hostStoreDescription();
            LOG.infof("KV host store: %s", host == null ? "off" : host);
        }
        return new ServingEngine(loaded, registry, limits.maxRequests(), limits.requestTimeout());
    }

    /** This replica's name in the Redis index: the pod name on Kubernetes, else the host name. */
    static String replicaName() {
        String pod = System.getenv("HOSTNAME");
        if (pod != null && !pod.isBlank()) return pod;
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /** The engine's sizing from {@code kvfn.engine.*}, {@code kvfn.kv.*} and {@code kvfn.scheduler.*}; a bad value stops start-up with one line. */
    static EngineOptions options(EngineConfig engine, KvConfig kv, SchedulerConfig scheduler) {
        try {
            int context = engine.contextLength();
            if (context < 0) throw new IllegalArgumentException("kvfn.engine.context-length must be >= 0, got " + context);
            var host = kv.hostStore();
            HostStoreOptions hostStore = !host.enabled() || !kv.prefixCaching() ? null : new HostStoreOptions(host.path(),
                    host.bytes().asLongValue(), HostTier.Policy.parse(host.policy()), host.queueBlocks(), kv.prewarm().blocks());
            return new EngineOptions(engine.effectiveThreads(), context == 0 ? Integer.MAX_VALUE : context,
                    KvElementType.parse(kv.elementType()), kv.blockTokens(),
                    kv.poolBytes().map(m -> m.asLongValue()).orElse(0L), kv.memoryFraction(), kv.prefixCaching(),
                    scheduler.maxStepTokens(), scheduler.maxSeqs(), scheduler.maxQueue(), hostStore, null);
        } catch (IllegalArgumentException e) {
            throw new ConfigurationException("kvfn cannot start: " + e.getMessage());
        }
    }

    private static Engine load(ModelConfig model, EngineOptions options) {
        int threads = options.threads();
        if (model.path().isEmpty()) {
            Path file;
            try {
                file = SyntheticModel.tinyTempFile();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the built-in synthetic model", e);
            }
            LOG.warnf("No model configured (kvfn.model.path / KVFN_MODEL_PATH): serving the built-in synthetic tiny model. "
                    + "Its text is meaningless; point KVFN_MODEL_PATH at a Llama-family GGUF for real text.");
            try {
                return CpuEngine.load(file, null, options);
            } catch (IllegalArgumentException | UncheckedIOException e) {
                throw new ConfigurationException("kvfn cannot start: " + e.getMessage());
            }
        }
        Path path = model.path().get();
        CpuEngine loaded;
        try {
            loaded = CpuEngine.load(path, model.tokenizer().orElse(null), options);
        } catch (ModelFormatException | UncheckedIOException | IllegalArgumentException e) {
            // Quarkus prints a ConfigurationException as its message alone: one line naming the file and the reason
            throw new ConfigurationException("kvfn cannot start: " + e.getMessage());
        }
        var layout = loaded.kvLayout();
        LOG.infof("Serving %s (%s, context %d, vocab %d) on %d threads; KV pool %d blocks x %d tokens (%s, %.0f bytes/token, %d MiB), model fingerprint %s",
                loaded.model().name(), path, loaded.model().contextLength(), loaded.model().vocabSize(), threads,
                loaded.stats().blocksTotal(), layout.blockTokens(), layout.elementType().configName(), layout.bytesPerToken(),
                loaded.stats().blocksTotal() * layout.blockBytes() >> 20, loaded.fingerprint().shortHex());

        return loaded;
    }

    /** The model's {@code tokenizer.chat_template}, or the ChatML fallback when it has none (llama2.c, built-in). */
    @Produces
    @Singleton
    ChatTemplate chatTemplate(ModelConfig model, Engine engine) {
        String template = null;
        Path path = model.path().orElse(null);
        if (path != null && GgufFile.isGguf(path)) {
            try (GgufFile gguf = GgufFile.open(path)) {
                template = gguf.string("tokenizer.chat_template", null);
            }
        }
        var tok = engine.tokenizer();
        String bos = tok.bos() >= 0 ? tok.piece(tok.bos()) : "";
        String eos = tok.eos() >= 0 ? tok.piece(tok.eos()) : "";
        ChatTemplate chat = new ChatTemplate(template, bos, eos);
        if (!chat.fromModel()) LOG.infof("The model has no chat template: chat completions use the ChatML fallback");
        return chat;
    }

    void close(@Disposes Engine engine) {
        engine.close();
    }
}
