package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.GgufWriter;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.SyntheticVocabulary;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import io.quarkus.test.junit.QuarkusTestProfile;
import jakarta.enterprise.inject.Alternative;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Test only: an {@link Engine} whose completion is a script the test chose, pushed to the sink piece by piece from
 * its own thread as an engine pushes tokens, so a request goes the whole real way (resource, template, request
 * checks, submit, sink, SSE) to an output no tiny model would write on its own — a tool call. The "model" has a
 * Qwen 2.5 chat template (its family is what matters) and the synthetic model's tokenizer for the prompt.
 * Enabled only by {@link Profile}.
 */
@Alternative
@Singleton
public class ScriptedEngine implements Engine {
    /** A stand-in for Qwen 2.5's template: ChatML, with the default system prompt that marks the family. */
    static final String QWEN25_TEMPLATE = "{%- if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are Qwen, "
            + "created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n{% endif %}{%- for m in messages %}"
            + "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{%- endfor %}<|im_start|>assistant\n";

    /** Stand-ins for Llama 3.1's and Mistral v3's templates: kvfn reads only their markers for tools. */
    static final String LLAMA31_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] "
            + "+ '<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
            + "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}";
    static final String MISTRAL_TEMPLATE = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
            + "{{ '[INST] ' + m['content'] + '[/INST]' }}{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}"
            + "{# [AVAILABLE_TOOLS] [TOOL_CALLS] [TOOL_RESULTS] #}";

    /** Runs the test class on this engine, as a Qwen 2.5 model. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Set<Class<?>> getEnabledAlternatives() {
            return Set.of(ScriptedEngine.class);
        }

        @Override
        public java.util.Map<String, String> getConfigOverrides() {
            return java.util.Map.of("kvfn.test.scripted-family", family());
        }

        String family() {
            return "qwen25";
        }
    }

    /** As a Llama 3.1 model. */
    public static final class Llama31 extends Profile {
        @Override
        String family() {
            return "llama31";
        }
    }

    /** As a Mistral v3 model. */
    public static final class Mistral extends Profile {
        @Override
        String family() {
            return "mistral";
        }
    }

    /** As a Qwen 2.5 model whose vocabulary has ChatML's markers as control tokens (as the real one has). */
    public static final class ChatMlVocabulary extends Profile {
        @Override
        String family() {
            return "qwen25-chatml";
        }
    }

    private final Tokenizer tokenizer;
    private volatile List<String> script = List.of();
    private volatile int[] lastPrompt;
    private volatile GenerationRequest lastRequest;

    private final String template;

    @jakarta.inject.Inject
    public ScriptedEngine(@org.eclipse.microprofile.config.inject.ConfigProperty(name = "kvfn.test.scripted-family") String family) {
        template = switch (family) {
            case "llama31" -> LLAMA31_TEMPLATE;
            case "mistral" -> MISTRAL_TEMPLATE;
            default -> QWEN25_TEMPLATE;
        };
        try {
            tokenizer = family.equals("qwen25-chatml") ? chatMlTokenizer()
                    : Tokenizers.fromGguf(GgufFile.open(SyntheticModel.tinyTempFile()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The synthetic vocabulary plus {@code <|im_start|>} and {@code <|im_end|>} as control tokens. */
    static Tokenizer chatMlTokenizer() throws IOException {
        SyntheticVocabulary v = SyntheticVocabulary.of(512);
        String[] tokens = java.util.Arrays.copyOf(v.tokens(), v.size() + 2);
        float[] scores = java.util.Arrays.copyOf(v.scores(), v.size() + 2);
        int[] types = java.util.Arrays.copyOf(v.types(), v.size() + 2);
        tokens[v.size()] = "<|im_start|>";
        tokens[v.size() + 1] = "<|im_end|>";
        types[v.size()] = types[v.size() + 1] = SyntheticVocabulary.TYPE_CONTROL;
        java.nio.file.Path file = java.nio.file.Files.createTempFile("kvfn-chatml-vocab", ".gguf");
        file.toFile().deleteOnExit();
        new GgufWriter().putString("general.architecture", "llama")
                .putString("tokenizer.ggml.model", "llama").putString("tokenizer.ggml.pre", "default")
                .putStringArray("tokenizer.ggml.tokens", tokens).putFloat32Array("tokenizer.ggml.scores", scores)
                .putIntArray("tokenizer.ggml.token_type", GgufWriter.ValueType.INT32, types)
                .putUInt32("tokenizer.ggml.bos_token_id", SyntheticVocabulary.BOS)
                .putUInt32("tokenizer.ggml.eos_token_id", SyntheticVocabulary.EOS)
                .write(file);
        try (GgufFile gguf = GgufFile.open(file)) {
            return Tokenizers.fromGguf(gguf);
        }
    }

    /** The next completions are these pieces, one per "token" (ending as if the model sampled EOS). */
    void script(List<String> pieces) {
        script = List.copyOf(pieces);
    }

    /** The next completions are {@code text} in pieces of {@code size} characters (markers fall across pieces). */
    void script(String text, int size) {
        List<String> pieces = new java.util.ArrayList<>();
        for (int i = 0; i < text.length(); i += size) pieces.add(text.substring(i, Math.min(text.length(), i + size)));
        script(pieces);
    }

    /** The last prompt submitted, as text. */
    String lastPrompt() {
        return tokenizer.decode(lastPrompt).stripLeading(); // SentencePiece's dummy-prefix space
    }

    /** The last request submitted. */
    GenerationRequest lastRequest() {
        return lastRequest;
    }

    @Override
    public ModelInfo model() {
        return new ModelInfo("scripted", "test", "llama", 1 << 16, tokenizer.vocabSize(), template);
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        lastPrompt = request.promptTokens();
        lastRequest = request;
        List<String> pieces = script;
        CompletableFuture<GenerationResult> result = new CompletableFuture<>();
        Thread.ofVirtual().name("scripted-engine").start(() -> {
            int n = Math.min(pieces.size(), request.maxTokens());
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < n; i++) {
                sink.onToken(i, pieces.get(i));
                text.append(pieces.get(i));
            }
            result.complete(new GenerationResult(text.toString(), new int[n], request.promptTokens().length, 0,
                    n < pieces.size() ? FinishReason.LENGTH : FinishReason.STOP, 0, 0));
        });
        return new Generation() {
            @Override
            public CompletableFuture<GenerationResult> result() {
                return result;
            }

            @Override
            public void cancel() {
                // the script is short; nothing to stop
            }
        };
    }

    @Override
    public void close() {}
}
