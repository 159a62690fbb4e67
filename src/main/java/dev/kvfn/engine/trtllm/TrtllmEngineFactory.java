package dev.kvfn.engine.trtllm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.config.KvConfig;
import dev.kvfn.config.TrtllmConfig;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.kv.tier.RemoteKvTier;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFingerprint;
import dev.kvfn.tokenizer.HfTokenizer;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Builds the TensorRT-LLM engine from configuration ({@code kvfn.trtllm.*}, {@code kvfn.kv.block-tokens}): the
 * tokenizer from the vocabulary named in config (a Hugging Face tokenizer directory or a GGUF), the context from the engine's config.json (or config), the
 * executor, and kvfn's index below it when a shared tier is configured (blocks never leave the GPU: keys and tokens
 * only, {@code blockBytes} 0). Bad values fail with an {@link IllegalArgumentException} naming the key.
 */
public final class TrtllmEngineFactory {
    private static final Logger LOG = Logger.getLogger(TrtllmEngineFactory.class);

    private TrtllmEngineFactory() {}

    /** @param remote the shared KV tier (Redis), or null */
    public static TrtllmEngine create(TrtllmConfig config, KvConfig kv, RemoteKvTier remote) {
        String dir = config.engineDir().filter(s -> !s.isBlank()).orElseThrow(() -> new IllegalArgumentException(
                "kvfn.engine=trtllm needs kvfn.trtllm.engine-dir (KVFN_TRTLLM_ENGINE_DIR): the TensorRT-LLM engine directory"));
        Path vocabularyPath = config.vocabulary().orElseThrow(() -> new IllegalArgumentException(
                "kvfn.engine=trtllm needs kvfn.trtllm.vocabulary (KVFN_TRTLLM_VOCABULARY): the Hugging Face checkpoint or"
                        + " tokenizer directory (tokenizer.json), or a GGUF file with the engine's vocabulary"));
        Vocabulary vocabulary = vocabulary(vocabularyPath);
        JsonNode engineConfig = engineConfig(dir);
        int context = config.contextLength() > 0 ? config.contextLength()
                : engineConfig == null ? 0 : engineConfig.path("build_config").path("max_seq_len").asInt(0);
        if (context <= 1) {
            throw new IllegalArgumentException("kvfn.trtllm.context-length must be set (> 1): " + dir
                    + (engineConfig == null ? " has no config.json" : "/config.json has no build_config.max_seq_len"));
        }
        if (config.kvCache().eventBufferMaxSize() <= 0) {
            throw new IllegalArgumentException("kvfn.trtllm.kv-cache.event-buffer-max-size must be > 0: kvfn's KV index is fed from the events");
        }
        Tokenizer tokenizer = vocabulary.tokenizer();
        String chatTemplate = vocabulary.chatTemplate(), name = vocabulary.name();
        byte[] vocabularyDigest = vocabulary.digest();
        String architecture = engineConfig == null ? "trtllm"
                : engineConfig.path("pretrained_config").path("architecture").asText("trtllm");
        var model = new ModelInfo(name != null ? name : Path.of(dir).getFileName().toString(), dir, architecture, context,
                tokenizer.vocabSize(), chatTemplate);
        var settings = new TrtllmExecutor.Settings(dir, config.maxBatchSize(), config.maxNumTokens(), config.maxQueueSize(),
                policy(config.schedulerPolicy()), config.kvCache().enableBlockReuse(), config.kvCache().maxTokens(),
                config.kvCache().freeGpuMemoryFraction(), config.kvCache().hostCacheSize().asLongValue(), config.kvCache().onboardBlocks(),
                config.kvCache().eventBufferMaxSize());
        TrtllmExecutor executor = TrtllmExecutor.create(settings);
        KvTiers tiers = null;
        try {
            byte[] fingerprint = fingerprint(dir, vocabularyDigest);
            BlockFormat format = new BlockFormat(layoutId(executor.tokensPerBlock()), kv.blockTokens(), 0);
            BlockHasher hasher = new BlockHasher(fingerprint, format.layoutId());
            if (remote != null && kv.prefixCaching() && config.kvCache().enableBlockReuse()) {
                tiers = KvTiers.open(format, fingerprint, HexFormat.of().formatHex(fingerprint, 0, 8), null, remote, 0);
            }
            var engine = new TrtllmEngine(executor, tokenizer, model,
                    new TrtllmEngine.Options(context, config.prewarmBlocks(), config.prewarmPriority()), tiers, hasher);
            LOG.infof("Serving %s on TensorRT-LLM (%s, context %d, vocab %d, %d-token KV blocks); kvfn index %s", model.name(), dir,
                    context, tokenizer.vocabSize(), executor.tokensPerBlock(), tiers == null ? "off (no shared tier)" : "fed from KV events");
            return engine;
        } catch (RuntimeException e) {
            if (tiers != null) tiers.close();
            executor.close();
            throw e;
        }
    }

    /**
     * The engine's tokenizer and chat template.
     *
     * @param name   the model's name, or null when the vocabulary does not say
     * @param digest identifies the vocabulary in the cache fingerprint
     */
    record Vocabulary(Tokenizer tokenizer, String chatTemplate, String name, byte[] digest) {}

    /** Reads {@code kvfn.trtllm.vocabulary}: a Hugging Face directory (tokenizer.json, tokenizer_config.json) or a GGUF file. */
    static Vocabulary vocabulary(Path path) {
        if (Files.isDirectory(path)) {
            if (!HfTokenizer.isTokenizerDirectory(path)) {
                throw new IllegalArgumentException("kvfn.trtllm.vocabulary: " + path + " is a directory without tokenizer.json");
            }
            HfTokenizer tokenizer = HfTokenizer.load(path);
            try {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                for (String file : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
                    Path f = path.resolve(file);
                    if (Files.isRegularFile(f)) sha.update(Files.readAllBytes(f));
                }
                return new Vocabulary(tokenizer, tokenizer.chatTemplate(), null, sha.digest());
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is missing from this JVM", e);
            } catch (IOException e) {
                throw new UncheckedIOException("kvfn.trtllm.vocabulary: cannot read " + path, e);
            }
        }
        if (!Files.isRegularFile(path)) throw new IllegalArgumentException("kvfn.trtllm.vocabulary: no such file or directory " + path);
        try (GgufFile gguf = GgufFile.open(path)) {
            return new Vocabulary(Tokenizers.fromGguf(gguf), gguf.string("tokenizer.chat_template", null),
                    gguf.string("general.name", null), ModelFingerprint.of(gguf).digest());
        }
    }

    /** The layout id that goes into kvfn's chain keys: TensorRT-LLM's KV never mixes with another engine's. */
    static String layoutId(int engineBlockTokens) {
        return "trtllm/engine-block-" + engineBlockTokens;
    }

    /** SHA-256 over the engine's config.json (or its directory's name) and the vocabulary's fingerprint. */
    static byte[] fingerprint(String dir, byte[] vocabularyDigest) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update("kvfn-trtllm/1".getBytes(StandardCharsets.US_ASCII));
            Path config = Path.of(dir).resolve("config.json");
            sha.update(Files.isRegularFile(config) ? Files.readAllBytes(config) : dir.getBytes(StandardCharsets.UTF_8));
            sha.update(vocabularyDigest);
            return sha.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        } catch (IOException | java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException("kvfn.trtllm.engine-dir: cannot read " + dir + "/config.json: " + e.getMessage());
        }
    }

    private static JsonNode engineConfig(String dir) {
        Path file;
        try {
            file = Path.of(dir).resolve("config.json");
        } catch (java.nio.file.InvalidPathException e) {
            return null;
        }
        if (!Files.isRegularFile(file)) return null;
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("kvfn.trtllm.engine-dir: " + file + " is not readable JSON", e);
        }
    }

    static int policy(String name) {
        return switch (name.strip().toLowerCase(Locale.ROOT)) {
            case "guaranteed-no-evict" -> TrtllmNative.SCHED_GUARANTEED_NO_EVICT;
            case "max-utilization" -> TrtllmNative.SCHED_MAX_UTILIZATION;
            case "static-batch" -> TrtllmNative.SCHED_STATIC_BATCH;
            default -> throw new IllegalArgumentException("kvfn.trtllm.scheduler-policy '" + name
                    + "': use guaranteed-no-evict, max-utilization or static-batch");
        };
    }
}
