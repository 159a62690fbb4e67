package dev.kvfn.engine.text;

import dev.kvfn.tokenizer.LiteralSpans;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Function;

/**
 * A rendered chat prompt and where the messages' content lies in it. Content is user data: its special-token text
 * (a typed {@code <|im_end|>}) must be tokenized as plain text, or a message could close its own turn and forge the
 * next. The template's own output is found by rendering the conversation a second time with each content replaced
 * by an unguessable placeholder: where the placeholders land is where the content goes.
 *
 * @param text    the prompt
 * @param content the content's spans in {@code text}; null when the template changes content in a way the
 *                placeholders cannot follow (the caller must then make sure no content holds special-token text)
 */
public record ChatPrompt(String text, LiteralSpans content) {
    private static final SecureRandom RANDOM = new SecureRandom();
    // Private-use code points: no template writes them, and the random tag makes them unguessable per render.
    private static final char OPEN = '\uE000', CLOSE = '\uE001';

    /** Renders {@code messages} with {@code render} and locates their content in the result. */
    public static ChatPrompt render(Function<List<ChatTemplate.Message>, String> render, List<ChatTemplate.Message> messages) {
        String text = render.apply(messages);
        if (messages.stream().allMatch(m -> m.content().isEmpty())) return new ChatPrompt(text, LiteralSpans.NONE);
        byte[] tag = new byte[8];
        RANDOM.nextBytes(tag);
        String nonce = HexFormat.of().formatHex(tag);
        List<String> placeholders = new ArrayList<>();
        List<ChatTemplate.Message> masked = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            ChatTemplate.Message m = messages.get(i);
            String placeholder = OPEN + nonce + i + CLOSE;
            placeholders.add(placeholder);
            masked.add(m.content().isEmpty() ? m : new ChatTemplate.Message(m.role(), placeholder, m.toolCalls(), m.toolCallId()));
        }
        String skeleton;
        try {
            skeleton = render.apply(masked);
        } catch (RuntimeException e) { // the template inspects content (and rejects a placeholder): spans unknown
            return new ChatPrompt(text, null);
        }
        // As written, or trimmed (Llama 3's templates trim content): the first that reproduces the prompt exactly.
        for (boolean trimmed : new boolean[] {false, true}) {
            LiteralSpans spans = fill(skeleton, placeholders, messages, trimmed, text);
            if (spans != null) return new ChatPrompt(text, spans);
        }
        return new ChatPrompt(text, null);
    }

    /** Puts the content back where its placeholder is; the spans if that gives exactly {@code expected}, else null. */
    private static LiteralSpans fill(String skeleton, List<String> placeholders, List<ChatTemplate.Message> messages,
                                     boolean trimmed, String expected) {
        StringBuilder out = new StringBuilder(expected.length());
        List<LiteralSpans.Span> spans = new ArrayList<>();
        int from = 0;
        for (int at = skeleton.indexOf(OPEN); at >= 0; at = skeleton.indexOf(OPEN, from)) {
            int close = skeleton.indexOf(CLOSE, at);
            if (close < 0) return null;
            int index = placeholders.indexOf(skeleton.substring(at, close + 1));
            if (index < 0) return null; // a private-use character the template wrote itself, or a mangled placeholder
            out.append(skeleton, from, at);
            String content = messages.get(index).content();
            if (trimmed) content = content.strip();
            if (!content.isEmpty()) {
                spans.add(new LiteralSpans.Span(out.length(), out.length() + content.length()));
                out.append(content);
            }
            from = close + 1;
        }
        out.append(skeleton, from, skeleton.length());
        return out.toString().equals(expected) ? new LiteralSpans(spans) : null;
    }
}
