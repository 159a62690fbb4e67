package dev.kvfn.runtime;

import dev.kvfn.config.EngineConfig;
import dev.kvfn.config.KvConfig;
import dev.kvfn.config.LimitsConfig;
import dev.kvfn.config.ModelConfig;
import dev.kvfn.config.SchedulerConfig;
import dev.kvfn.config.TrtllmConfig;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.cpu.CpuEngineFactory;
import dev.kvfn.engine.text.ChatTemplate;
import dev.kvfn.engine.trtllm.TrtllmEngineFactory;
import dev.kvfn.kv.seal.KvSecret;
import dev.kvfn.kv.tier.RemoteKvTier;
import dev.kvfn.kv.tier.redis.RedisKvTier;
import dev.kvfn.model.ModelFormatException;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import io.quarkus.runtime.configuration.ConfigurationException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

import java.io.UncheckedIOException;
import java.time.Duration;

/**
 * Builds the one engine of this process at start-up: the kind {@code kvfn.engine} names, the shared
 * KV tier when {@code quarkus.redis.hosts} is set, and the serving decorator (limits, deadlines,
 * metrics) around it. A bad value or model stops start-up with one line naming it.
 */
@ApplicationScoped
public class EngineProducer {
    private static final Logger LOG = Logger.getLogger(EngineProducer.class);

    @Produces
    @Singleton
    @Startup
    Engine engine(ModelConfig model, EngineConfig engine, KvConfig kv, SchedulerConfig scheduler,
                  LimitsConfig limits, TrtllmConfig trtllm, MeterRegistry registry,
                  Instance<io.vertx.redis.client.Redis> redis) {
        Engine loaded;
        try {
            loaded = switch (engine.kind().strip()) {
                case "cpu" -> CpuEngineFactory.create(model, engine, kv, scheduler, limits, remoteTier(kv, redis));
                case "trtllm" -> TrtllmEngineFactory.create(trtllm, kv, remoteTier(kv, redis));
                default -> throw new IllegalArgumentException("unknown kvfn.engine '" + engine.kind() + "': use cpu or trtllm");
            };
        } catch (ModelFormatException | UncheckedIOException | IllegalArgumentException | IllegalStateException e) {
            // Quarkus prints a ConfigurationException as its message alone: one line naming the key or file and the reason
            throw new ConfigurationException("kvfn cannot start: " + e.getMessage());
        }
        var serving = new ServingEngine(loaded, registry, limits.maxRequests(), limits.requestTimeout());
        // SIGTERM runs every shutdown hook at once: this one takes the replica out of rotation at the first instant
        // (readiness DOWN, new requests 503) while Quarkus waits for the running ones; the engine closes after them.
        drainOnSigterm = Thread.ofPlatform().name("kvfn-drain").unstarted(serving::drain);
        Runtime.getRuntime().addShutdownHook(drainOnSigterm);
        return serving;
    }

    private Thread drainOnSigterm;

    /** The Redis tier when {@code quarkus.redis.hosts} is set, else null. */
    private static RemoteKvTier remoteTier(KvConfig kv, Instance<io.vertx.redis.client.Redis> redis) {
        if (ConfigProvider.getConfig().getOptionalValue("quarkus.redis.hosts", String.class).isEmpty()) return null;
        var r = kv.redis();
        // a cluster client sends a batch to one node only: the tier splits its batches by hash slot
        boolean cluster = "cluster".equalsIgnoreCase(ConfigProvider.getConfig()
                .getOptionalValue("quarkus.redis.client-type", String.class).orElse("standalone"));
        LOG.infof("KV index and blocks shared through Redis%s (store-bytes=%s, key prefix %s, lookup deadline %s)", cluster ? " Cluster" : "",
                r.storeBytes(), r.keyPrefix(), r.lookupTimeout());
        io.vertx.redis.client.Redis client = redis.get();
        var tier = new RedisKvTier(client, r.storeBytes(), r.lookupTimeout(), r.fetchTimeout(), r.ttl(), replicaName(),
                r.maxInFlight(), r.keyPrefix(), kv.secret().map(KvSecret::of).orElse(null), cluster,
                ConfigProvider.getConfig().getOptionalValue("quarkus.redis.max-pool-size", Integer.class).orElse(RedisKvTier.DEFAULT_CONNECTIONS));
        // Connect now, in the background: a cold replica's first lookup has kvfn.kv.redis.lookup-timeout (20 ms by default),
        // no room for a TCP (TLS, AUTH) handshake. Readiness never waits for it; a failure only means the tier retries later.
        // HGET of a key under the prefix: the one kind of command the documented ACL user may send (PING it may not).
        client.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.HGET).arg(r.keyPrefix() + ":connect").arg("-"))
                .onFailure(e -> LOG.infof("Redis not reachable at start-up (%s): the KV tier keeps trying with each request", e.getMessage()));
        return tier;
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

    /** The model's own chat template, or the ChatML fallback when it has none (llama2.c, built-in). */
    @Produces
    @Singleton
    ChatTemplate chatTemplate(Engine engine) {
        var tok = engine.tokenizer();
        String bos = tok.bos() >= 0 ? tok.piece(tok.bos()) : "";
        String eos = tok.eos() >= 0 ? tok.piece(tok.eos()) : "";
        ChatTemplate chat = new ChatTemplate(engine.model().chatTemplate(), bos, eos);
        if (!chat.fromModel()) LOG.infof("The model has no chat template: chat completions use the ChatML fallback");
        return chat;
    }

    /**
     * Closes the engine once the requests it runs have finished (bounded by {@code quarkus.shutdown.timeout}), so
     * a shutdown never cuts an accepted request; closing flushes the host store.
     */
    void close(@Disposes Engine engine) {
        if (engine instanceof ServingEngine serving) {
            serving.drain();
            Duration grace = ConfigProvider.getConfig().getOptionalValue("quarkus.shutdown.timeout", Duration.class)
                    .orElse(Duration.ofSeconds(30));
            try {
                if (!serving.awaitIdle(grace)) LOG.warnf("closing the engine with requests still running after %s", grace);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (drainOnSigterm != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(drainOnSigterm);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting: the hook has run
            }
        }
        engine.close();
    }
}
