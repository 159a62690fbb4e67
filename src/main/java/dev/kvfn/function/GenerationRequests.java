package dev.kvfn.function;

import dev.kvfn.config.KvConfig;
import dev.kvfn.config.LimitsConfig;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.tokenizer.LiteralSpans;
import dev.kvfn.tokenizer.Tokenizer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.List;

/**
 * Turns what a client asked for (Funqy {@code generate} or the OpenAI API) into a {@link GenerationRequest},
 * checking every field against the limits and the model's context. One place, so both APIs refuse the same
 * things with the same messages, in their own field names.
 */
@ApplicationScoped
public class GenerationRequests {
    static final int MAX_STOP_STRINGS = 16;

    /**
     * The fields of one API: their names in messages (and in an error's {@code param}), its defaults and its
     * temperature range (OpenAI's is [0, 2]). A null default max means the configured one.
     */
    public record Style(String maxTokens, String topP, String topK, String minP, String cacheSalt, Integer defaultMaxTokens,
                        float defaultTemperature, float maxTemperature) {
        public static final Style FUNQY = new Style("maxTokens", "topP", "topK", "minP", "cacheSalt", null, 0f, 100f);
        public static final Style OPENAI_COMPLETIONS = new Style("max_tokens", "top_p", "top_k", "min_p", "cache_salt", 16, 1f, 2f);
        public static final Style OPENAI_CHAT = new Style("max_tokens", "top_p", "top_k", "min_p", "cache_salt", null, 1f, 2f);

        /** The same style with the length field under another name (chat's {@code max_completion_tokens}). */
        public Style withMaxTokens(String name) {
            return new Style(name, topP, topK, minP, cacheSalt, defaultMaxTokens, defaultTemperature, maxTemperature);
        }
    }

    /** Sampling and length knobs as a client sent them (null: not given). */
    public record Knobs(Integer maxTokens, Float temperature, Float topP, Integer topK, Float minP, Long seed,
                        List<String> stop, String cacheSalt) {}

    @Inject
    Engine engine;

    @Inject
    LimitsConfig limits;

    @Inject
    KvConfig kv;

    private volatile int longestPiece;

    private int longestPiece() {
        int l = longestPiece;
        if (l == 0) longestPiece = l = longestPiece(engine.tokenizer());
        return l;
    }

    /**
     * The most characters of a text one token can stand for: its longest vocabulary piece. Every character of a
     * prompt belongs to one token's piece (SentencePiece maps a character to one piece character, byte-level BPE to
     * one or more; a character the vocabulary lacks becomes byte tokens), so a prompt of n characters has at least
     * n / longest tokens, and one longer than context × longest cannot fit: refusing it untokenized is exact.
     */
    static int longestPiece(Tokenizer tokenizer) {
        int longest = 1;
        for (int t = 0; t < tokenizer.vocabSize(); t++) longest = Math.max(longest, tokenizer.piece(t).length());
        return longest;
    }

    /** Tokenizes {@code prompt} (BOS as the model asks, special-token text parsed) and checks the knobs. */
    public GenerationRequest build(String prompt, Knobs k, Style style) {
        return build(prompt, LiteralSpans.NONE, k, style);
    }

    /** As {@link #build(String, Knobs, Style)}, with special-token text inside {@code literal} left plain (chat content). */
    public GenerationRequest build(String prompt, LiteralSpans literal, Knobs k, Style style) {
        if (prompt == null || prompt.isEmpty()) throw new BadRequestException("\"prompt\" must be a non-empty string", "prompt");
        if (k.cacheSalt() == null && kv.requireSalt()) {
            throw new BadRequestException("\"" + style.cacheSalt() + "\" is required: this deployment keeps every tenant's "
                    + "prefix cache apart (kvfn.kv.require-salt)", style.cacheSalt());
        }
        if (prompt.length() > limits.maxPromptChars()) {
            throw new BadRequestException("the prompt has " + prompt.length() + " characters; the limit is " + limits.maxPromptChars(), "prompt");
        }
        int context = engine.model().contextLength();
        int longest = longestPiece();
        if (prompt.length() > (long) context * longest) { // certainly past the context: refused without tokenizing it
            throw new BadRequestException("the prompt has " + prompt.length() + " characters: more than the model's context of "
                    + context + " tokens can hold (a token covers at most " + longest + " characters)", "prompt");
        }
        int[] tokens = engine.tokenizer().encode(prompt, literal);
        if (tokens.length >= context) {
            throw new BadRequestException("the prompt is " + tokens.length + " tokens; the model's context is " + context
                    + " tokens and at least one must be left for the completion", "prompt");
        }
        int room = context - tokens.length;
        int maxTokens;
        if (k.maxTokens() == null) {
            maxTokens = Math.min(style.defaultMaxTokens() != null ? style.defaultMaxTokens() : limits.defaultMaxTokens(), room);
        } else {
            maxTokens = k.maxTokens();
            if (maxTokens < 1) throw new BadRequestException("\"" + style.maxTokens() + "\" must be >= 1, got " + maxTokens, style.maxTokens());
            if (maxTokens > limits.maxTokens()) {
                throw new BadRequestException("\"" + style.maxTokens() + "\" is " + maxTokens + "; the limit is " + limits.maxTokens(),
                        style.maxTokens());
            }
            if (maxTokens > room) {
                throw new BadRequestException("the prompt (" + tokens.length + " tokens) + \"" + style.maxTokens() + "\" ("
                        + maxTokens + ") exceeds the model's context of " + context + " tokens", style.maxTokens());
            }
        }
        float temperature = k.temperature() == null ? style.defaultTemperature() : k.temperature();
        if (!(temperature >= 0f && temperature <= style.maxTemperature())) {
            throw new BadRequestException("\"temperature\" must be in [0, " + (int) style.maxTemperature() + "], got " + temperature,
                    "temperature");
        }
        float topP = k.topP() == null ? 1f : k.topP();
        if (!(topP >= 0f && topP <= 1f)) throw new BadRequestException("\"" + style.topP() + "\" must be in [0, 1], got " + topP, style.topP());
        // OpenAI's 0 means the most likely token only: the smallest nucleus, which the sampler never empties
        if (topP == 0f) topP = Float.MIN_VALUE;
        int topK = k.topK() == null ? 0 : k.topK();
        if (topK < 0) throw new BadRequestException("\"" + style.topK() + "\" must be >= 0 (0 disables it)", style.topK());
        float minP = k.minP() == null ? 0f : k.minP();
        if (!(minP >= 0f && minP <= 1f)) throw new BadRequestException("\"" + style.minP() + "\" must be in [0, 1]", style.minP());
        long seed = k.seed() == null ? System.nanoTime() : k.seed();
        List<String> stop = k.stop() == null ? List.of() : k.stop();
        if (stop.size() > MAX_STOP_STRINGS) throw new BadRequestException("at most " + MAX_STOP_STRINGS + " \"stop\" strings", "stop");
        return new GenerationRequest(tokens, maxTokens, new SamplingParams(temperature, topK, topP, minP, seed), stop,
                k.cacheSalt());
    }
}
