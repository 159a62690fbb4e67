package dev.kvfn.engine;

/**
 * How the next token is chosen. {@code temperature == 0} is greedy (argmax) and ignores the rest.
 * {@code topK <= 0} and {@code topP >= 1} and {@code minP <= 0} disable those filters.
 * The same seed with the same parameters and prompt gives the same tokens.
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, long seed) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0f, 0L);

    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0");
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1]");
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("minP must be in [0, 1]");
    }

    public boolean greedy() {
        return temperature == 0f;
    }
}
