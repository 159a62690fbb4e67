package dev.kvfn.engine.structured;

import java.util.Arrays;

/**
 * One sequence's place in a {@link TokenConstraint}: masks the logits of its next token and moves on with the
 * token sampled. Belongs to the engine thread of its sequence (not thread-safe). A preempted sequence keeps its
 * cursor: recomputing its KV samples nothing, so the cursor already stands after its last token.
 */
public final class ConstraintCursor {
    private final TokenConstraint constraint;
    private TokenConstraint.Node node;
    private boolean ended;
    private float[] saved = new float[16];

    ConstraintCursor(TokenConstraint constraint, TokenConstraint.Node start) {
        this.constraint = constraint;
        this.node = start;
    }

    /**
     * Sets the logit of every token the grammar does not allow next to negative infinity (end-of-generation tokens
     * are allowed only where the output is complete; ids past the vocabulary never). Throws
     * {@link IllegalStateException} when no token at all may follow, which a vocabulary with every single byte
     * cannot cause.
     */
    public void mask(float[] logits) {
        TokenConstraint.Node n = constraint.masked(node);
        if (ended || n.allowedCount == 0) {
            throw new IllegalStateException("no token of the vocabulary can continue the structured output here");
        }
        int[] list = n.list;
        int vocab = constraint.vocabulary().size;
        if (n.listAllowed) {
            if (saved.length < list.length) saved = new float[Math.max(list.length, saved.length * 2)];
            for (int i = 0; i < list.length; i++) saved[i] = logits[list[i]];
            Arrays.fill(logits, Float.NEGATIVE_INFINITY);
            for (int i = 0; i < list.length; i++) logits[list[i]] = saved[i];
        } else {
            for (int t : list) logits[t] = Float.NEGATIVE_INFINITY;
            if (logits.length > vocab) Arrays.fill(logits, vocab, logits.length, Float.NEGATIVE_INFINITY);
        }
    }

    /** Moves past {@code token}; {@link IllegalArgumentException} if the grammar does not allow it here. */
    public void advance(int token) {
        if (ended) throw new IllegalStateException("the structured output has already ended");
        TokenVocabulary v = constraint.vocabulary();
        if (token >= 0 && token < v.size && v.ends[token]) {
            if (!node.state.accepting()) throw new IllegalArgumentException("token " + token + " ends the output before the JSON value is complete");
            ended = true;
            return;
        }
        TokenConstraint.Node next = constraint.next(node, token);
        if (next == null) throw new IllegalArgumentException("token " + token + " does not fit the structured output here");
        node = next;
    }

    /** Whether the output so far is a complete value. */
    public boolean complete() {
        return node.state.accepting();
    }
}
