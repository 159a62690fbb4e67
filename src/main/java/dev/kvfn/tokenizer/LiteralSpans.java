package dev.kvfn.tokenizer;

import java.util.List;

/**
 * Ranges of a prompt that are user data, not template: special-token text inside them is tokenized as plain text,
 * so a chat message that types {@code <|im_end|>} cannot close its own turn and forge the next one.
 *
 * @param spans sorted, non-overlapping, non-empty
 */
public record LiteralSpans(List<Span> spans) {
    /** Characters {@code [start, end)} of the prompt. */
    public record Span(int start, int end) {
        public Span {
            if (start < 0 || end <= start) throw new IllegalArgumentException("bad span [" + start + ", " + end + ")");
        }
    }

    public static final LiteralSpans NONE = new LiteralSpans(List.of());

    public LiteralSpans {
        spans = List.copyOf(spans);
        for (int i = 1; i < spans.size(); i++) {
            if (spans.get(i).start() < spans.get(i - 1).end()) throw new IllegalArgumentException("spans overlap or are out of order");
        }
    }

    /** Whether {@code [start, end)} shares a character with a span. */
    boolean overlaps(int start, int end) {
        int lo = 0, hi = spans.size() - 1;
        while (lo <= hi) { // the first span that ends after start
            int mid = (lo + hi) >>> 1;
            if (spans.get(mid).end() <= start) lo = mid + 1; else hi = mid - 1;
        }
        return lo < spans.size() && spans.get(lo).start() < end;
    }
}
