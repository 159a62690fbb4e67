package dev.kvfn.engine.structured;

import java.util.Arrays;

/**
 * Where a byte-wise parse of a {@link Grammar} stands: the set of stacks that the bytes so far leave alive (each
 * stack's top waits on a byte class; the stacks are persistent linked frames, so advancing shares their tails), and
 * whether the bytes so far are a complete sentence. Immutable, with value equality, so equal states can share
 * cached token masks. A state with no stacks that is not accepting is dead: no byte continues it.
 *
 * <p>A reference whose alternative ends right after it is a tail call (no return frame is pushed), so a
 * right-recursive loop such as the characters of a string keeps a stack of constant depth.
 */
public final class ParseState {
    /** One pending position with what follows it once its alternative ends ({@code parent}, null: the sentence ends). */
    static final class Frame {
        final int position;
        final Frame parent;
        final int hash;

        Frame(int position, Frame parent) {
            this.position = position;
            this.parent = parent;
            this.hash = 31 * (parent == null ? 0 : parent.hash) + position;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) return true;
            if (!(o instanceof Frame f) || f.hash != hash) return false;
            Frame a = this, b = f;
            while (a != b) {
                if (a == null || b == null || a.position != b.position || a.hash != b.hash) return false;
                a = a.parent;
                b = b.parent;
            }
            return true;
        }

        @Override
        public int hashCode() { return hash; }
    }

    /** Collects the stacks of the next state without duplicates (the scratch of one advance). */
    static final class Collector {
        Frame[] frames = new Frame[8];
        int size;
        boolean accepting;

        void clear() {
            size = 0;
            accepting = false;
        }

        void add(Frame f) {
            for (int i = 0; i < size; i++) if (frames[i].equals(f)) return;
            if (size == frames.length) frames = Arrays.copyOf(frames, size * 2);
            frames[size++] = f;
        }

        boolean isDead() { return size == 0 && !accepting; }
    }

    private static final int MAX_EXPANSION_DEPTH = 10_000;

    final Grammar grammar;
    final Frame[] stacks;
    private final boolean accepting;
    private final int hash;

    private ParseState(Grammar grammar, Frame[] stacks, boolean accepting) {
        this.grammar = grammar;
        this.stacks = stacks;
        this.accepting = accepting;
        int h = accepting ? 1 : 0;
        for (Frame f : stacks) h += f.hash * 0x9E3779B1; // order-free: a set
        this.hash = h;
    }

    static ParseState of(Grammar grammar, Collector c) {
        return new ParseState(grammar, Arrays.copyOf(c.frames, c.size), c.accepting);
    }

    /** Before the first byte. */
    public static ParseState start(Grammar grammar) {
        Collector c = new Collector();
        expandRule(grammar, grammar.root, null, c, 0);
        return of(grammar, c);
    }

    /** Whether the bytes so far are a complete sentence. */
    public boolean accepting() { return accepting; }

    /** Whether no byte can follow (the state is complete and nothing may be appended, or the input was wrong). */
    public boolean isDead() { return stacks.length == 0 && !accepting; }

    /** Whether some byte can follow. */
    public boolean canContinue() { return stacks.length > 0; }

    /** The state after {@code bytes} (dead as soon as one does not fit). */
    public ParseState advance(byte[] bytes) {
        if (bytes.length == 0) return this;
        Collector a = new Collector(), b = new Collector();
        Frame[] from = stacks;
        int n = stacks.length;
        for (int i = 0; i < bytes.length; i++) {
            a.clear();
            step(grammar, from, n, bytes[i] & 0xff, a);
            if (a.size == 0) {
                if (i < bytes.length - 1) a.accepting = false; // complete too early: the rest cannot follow
                return of(grammar, a);
            }
            Collector t = a;
            a = b;
            b = t;
            from = b.frames;
            n = b.size;
        }
        return of(grammar, b);
    }

    /** Feeds byte {@code b} to the stacks {@code from[0..n)}, collecting the next stacks in {@code out}. */
    static void step(Grammar g, Frame[] from, int n, int b, Collector out) {
        for (int i = 0; i < n; i++) {
            Frame f = from[i];
            if (!g.matches(f.position, b)) continue;
            int next = f.position + 1;
            if (g.code[next] == Grammar.END) resume(g, f.parent, out, 0);
            else expand(g, new Frame(next, f.parent), out, 0);
        }
    }

    /** Continues after an alternative ended: the frame it returns to, or the end of the sentence. */
    private static void resume(Grammar g, Frame parent, Collector out, int depth) {
        if (parent == null) out.accepting = true;
        else expand(g, parent, out, depth);
    }

    /** Brings {@code f} to positions that wait on bytes: references are entered, ends return. */
    private static void expand(Grammar g, Frame f, Collector out, int depth) {
        if (depth > MAX_EXPANSION_DEPTH) throw new IllegalStateException("grammar expansion too deep");
        int c = g.code[f.position];
        if (c >= 0) {
            out.add(f);
        } else if (c == Grammar.END) {
            resume(g, f.parent, out, depth + 1);
        } else {
            int after = f.position + 1;
            Frame cont = g.code[after] == Grammar.END ? f.parent : new Frame(after, f.parent); // tail call
            expandRule(g, Grammar.rule(c), cont, out, depth + 1);
        }
    }

    private static void expandRule(Grammar g, int rule, Frame cont, Collector out, int depth) {
        for (int start : g.alternatives[rule]) {
            if (g.code[start] == Grammar.END) resume(g, cont, out, depth + 1);
            else expand(g, new Frame(start, cont), out, depth + 1);
        }
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (!(o instanceof ParseState s) || s.hash != hash || s.accepting != accepting || s.stacks.length != stacks.length
                || s.grammar != grammar) {
            return false;
        }
        outer:
        for (Frame f : stacks) {
            for (Frame x : s.stacks) if (x.equals(f)) continue outer;
            return false;
        }
        return true;
    }

    @Override
    public int hashCode() { return hash; }
}
