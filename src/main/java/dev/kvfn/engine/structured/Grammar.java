package dev.kvfn.engine.structured;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A context-free grammar over bytes, flattened for {@link ParseState}: every alternative of every rule is a run of
 * positions in {@link #code}, each a byte class, a reference to a rule, or the alternative's end. Built through
 * {@link Builder}, which drops alternatives that can never finish and refuses rules that could call themselves
 * without reading a byte (the matcher would loop). Immutable.
 */
public final class Grammar {
    static final int END = -1;

    /** Per position: a byte class index (>= 0), {@link #END}, or {@code -(rule + 2)}, a reference. */
    final int[] code;
    /** Per rule: the start positions of its alternatives. */
    final int[][] alternatives;
    /** Byte classes as 256-bit sets (4 longs each). */
    final long[][] classes;
    final String[] ruleNames;
    final int root;

    private Grammar(int[] code, int[][] alternatives, long[][] classes, String[] ruleNames, int root) {
        this.code = code;
        this.alternatives = alternatives;
        this.classes = classes;
        this.ruleNames = ruleNames;
        this.root = root;
    }

    static boolean isRef(int c) { return c <= -2; }

    static int rule(int c) { return -c - 2; }

    boolean matches(int position, int b) {
        long[] set = classes[code[position]];
        return (set[b >>> 6] >>> (b & 63) & 1L) != 0;
    }


    /** Element codes for rules under construction. */
    public static final class Builder {
        private final List<String> names = new ArrayList<>();
        private final List<List<int[]>> rules = new ArrayList<>();
        private final List<long[]> classes = new ArrayList<>();
        private final Map<String, Integer> classIndex = new HashMap<>();

        /** A new rule without alternatives yet; returns its id. */
        public int rule(String name) {
            names.add(name);
            rules.add(new ArrayList<>());
            return rules.size() - 1;
        }

        /** Adds the alternative {@code elements} (codes from {@link #ref}, {@link #range}, {@link #literal}...) to {@code rule}. */
        public Builder alt(int rule, int... elements) {
            rules.get(rule).add(elements.clone());
            return this;
        }

        public int ref(int rule) { return -(rule + 2); }

        /** One byte in {@code [lo, hi]}. */
        public int range(int lo, int hi) {
            return anyOf(new int[] {lo, hi});
        }

        /** One byte in any of the inclusive ranges {@code lo0, hi0, lo1, hi1, ...}. */
        public int anyOf(int... ranges) {
            long[] set = new long[4];
            for (int i = 0; i < ranges.length; i += 2) {
                for (int b = ranges[i]; b <= ranges[i + 1]; b++) set[b >>> 6] |= 1L << (b & 63);
            }
            return classCode(set);
        }

        /** One byte of {@code chars} (ASCII). */
        public int oneOf(String chars) {
            long[] set = new long[4];
            for (int i = 0; i < chars.length(); i++) set[chars.charAt(i) >>> 6] |= 1L << (chars.charAt(i) & 63);
            return classCode(set);
        }

        /** The UTF-8 bytes of {@code text}, one element each. */
        public int[] literal(String text) {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            int[] out = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) out[i] = range(bytes[i] & 0xff, bytes[i] & 0xff);
            return out;
        }

        private int classCode(long[] set) {
            String key = Arrays.toString(set);
            Integer id = classIndex.get(key);
            if (id == null) {
                if (set[0] == 0 && set[1] == 0 && set[2] == 0 && set[3] == 0) throw new IllegalArgumentException("empty byte class");
                id = classes.size();
                classes.add(set);
                classIndex.put(key, id);
            }
            return id;
        }

        /** Concatenates element runs. */
        public static int[] seq(Object... parts) {
            int n = 0;
            for (Object p : parts) n += p instanceof int[] a ? a.length : 1;
            int[] out = new int[n];
            int i = 0;
            for (Object p : parts) {
                if (p instanceof int[] a) {
                    System.arraycopy(a, 0, out, i, a.length);
                    i += a.length;
                } else {
                    out[i++] = (Integer) p;
                }
            }
            return out;
        }

        /**
         * The grammar with {@code root} as its start. Alternatives that reference a rule that can never finish are
         * dropped; a root that can never finish, or a rule that can reach itself without reading a byte, is refused.
         */
        public Grammar build(int root) {
            int n = rules.size();
            boolean[] productive = productive(n);
            if (!productive[root]) throw new IllegalArgumentException("the schema admits no finite JSON value (it requires itself forever)");
            List<List<int[]>> kept = new ArrayList<>(n);
            for (int r = 0; r < n; r++) {
                List<int[]> alts = new ArrayList<>();
                for (int[] alt : rules.get(r)) if (allProductive(alt, productive)) alts.add(alt);
                kept.add(alts);
            }
            checkNoEmptyLoops(kept);
            int size = 0;
            for (List<int[]> alts : kept) for (int[] alt : alts) size += alt.length + 1;
            int[] code = new int[size];
            int[][] starts = new int[n][];
            int at = 0;
            for (int r = 0; r < n; r++) {
                List<int[]> alts = kept.get(r);
                starts[r] = new int[alts.size()];
                for (int a = 0; a < alts.size(); a++) {
                    starts[r][a] = at;
                    for (int e : alts.get(a)) code[at++] = e;
                    code[at++] = END;
                }
            }
            return new Grammar(code, starts, classes.toArray(long[][]::new), names.toArray(String[]::new), root);
        }

        private boolean[] productive(int n) {
            boolean[] productive = new boolean[n];
            for (boolean changed = true; changed; ) {
                changed = false;
                for (int r = 0; r < n; r++) {
                    if (productive[r]) continue;
                    for (int[] alt : rules.get(r)) {
                        if (allProductive(alt, productive)) {
                            productive[r] = changed = true;
                            break;
                        }
                    }
                }
            }
            return productive;
        }

        private static boolean allProductive(int[] alt, boolean[] productive) {
            for (int e : alt) if (isRef(e) && !productive[Grammar.rule(e)]) return false;
            return true;
        }

        /** Refuses left recursion through nullable prefixes: the matcher's expansion would never end. */
        private void checkNoEmptyLoops(List<List<int[]>> kept) {
            int n = kept.size();
            boolean[] nullable = new boolean[n];
            for (boolean changed = true; changed; ) {
                changed = false;
                for (int r = 0; r < n; r++) {
                    if (nullable[r]) continue;
                    for (int[] alt : kept.get(r)) {
                        boolean all = true;
                        for (int e : alt) if (!isRef(e) || !nullable[Grammar.rule(e)]) { all = false; break; }
                        if (all) {
                            nullable[r] = changed = true;
                            break;
                        }
                    }
                }
            }
            int[] mark = new int[n]; // 0 new, 1 on the path, 2 done
            for (int r = 0; r < n; r++) visitLeftCorners(r, kept, nullable, mark);
        }

        private void visitLeftCorners(int r, List<List<int[]>> kept, boolean[] nullable, int[] mark) {
            if (mark[r] == 2) return;
            if (mark[r] == 1) throw new IllegalArgumentException("the schema refers to itself without any JSON in between ("
                    + names.get(r) + "); such a value could never be written");
            mark[r] = 1;
            for (int[] alt : kept.get(r)) {
                for (int e : alt) {
                    if (!isRef(e)) break;
                    visitLeftCorners(Grammar.rule(e), kept, nullable, mark);
                    if (!nullable[Grammar.rule(e)]) break;
                }
            }
            mark[r] = 2;
        }
    }
}
