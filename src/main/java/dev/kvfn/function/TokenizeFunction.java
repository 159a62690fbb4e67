package dev.kvfn.function;

import dev.kvfn.config.LimitsConfig;
import dev.kvfn.engine.Engine;
import io.quarkus.funqy.Funq;
import jakarta.inject.Inject;

/** {@code tokenize}: the token ids the model sees for a text (what {@code generate} would count as the prompt). */
public class TokenizeFunction {

    /** {@code addSpecial} (default true) adds BOS as the model asks; {@code parseSpecial} (default true) matches control-token text. */
    public record Input(String text, Boolean addSpecial, Boolean parseSpecial) {}

    public record Output(int[] tokens, int count, String model) {}

    @Inject
    Engine engine;

    @Inject
    LimitsConfig limits;

    @Funq("tokenize")
    public Output tokenize(Input in) {
        if (in == null || in.text() == null) throw new BadRequestException("request body must be a JSON object with a \"text\"");
        if (in.text().length() > limits.maxPromptChars()) { // the prompt's limit: nothing longer could be generated from
            throw new BadRequestException("the text has " + in.text().length() + " characters; the limit is "
                    + limits.maxPromptChars() + " (kvfn.limits.max-prompt-chars)", "text");
        }
        int[] tokens = engine.tokenizer().encode(in.text(), in.addSpecial() == null || in.addSpecial(),
                in.parseSpecial() == null || in.parseSpecial());
        return new Output(tokens, tokens.length, engine.model().name());
    }
}
