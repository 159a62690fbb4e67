package dev.kvfn.tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which of a fixed set of strings occur in a text, in one pass over it (Aho–Corasick: a trie of the strings with
 * a failure link per node), instead of one {@code indexOf} over the whole text per string: Llama 3 has 256
 * special tokens, so a 1 MB text cost 256 scans. Strings are compared char by char, as {@code String.indexOf}
 * does.
 */
final class OccurrenceScan {
    private final int[] terminal;      // by string: its trie node
    private final int[] childStart;    // by node: its children's range in label/child (sorted by label)
    private final char[] label;
    private final int[] child;
    private final int[] failure;       // by node: the node of its longest proper suffix in the trie
    private final int[] breadthFirst;  // the nodes, shallowest first
    private final long[] firstChars = new long[1 << 10]; // a bit per char that starts some string

    /** @param strings non-empty strings (repeats allowed) */
    OccurrenceScan(List<String> strings) {
        // the trie, children as lists while building
        List<StringBuilder> labels = new ArrayList<>();
        List<List<Integer>> children = new ArrayList<>();
        labels.add(new StringBuilder());
        children.add(new ArrayList<>());
        terminal = new int[strings.size()];
        for (int s = 0; s < strings.size(); s++) {
            String text = strings.get(s);
            if (text.isEmpty()) throw new IllegalArgumentException("an empty string occurs everywhere");
            firstChars[text.charAt(0) >>> 6] |= 1L << text.charAt(0);
            int node = 0;
            for (int i = 0; i < text.length(); i++) {
                int at = labels.get(node).indexOf(String.valueOf(text.charAt(i)));
                if (at >= 0) {
                    node = children.get(node).get(at);
                } else {
                    labels.get(node).append(text.charAt(i));
                    children.get(node).add(labels.size());
                    node = labels.size();
                    labels.add(new StringBuilder());
                    children.add(new ArrayList<>());
                }
            }
            terminal[s] = node;
        }
        int nodes = labels.size();
        childStart = new int[nodes + 1];
        for (int n = 0; n < nodes; n++) childStart[n + 1] = childStart[n] + labels.get(n).length();
        label = new char[childStart[nodes]];
        child = new int[childStart[nodes]];
        for (int n = 0; n < nodes; n++) {
            Integer[] order = new Integer[labels.get(n).length()];
            for (int k = 0; k < order.length; k++) order[k] = k;
            StringBuilder l = labels.get(n);
            Arrays.sort(order, (a, b) -> Character.compare(l.charAt(a), l.charAt(b)));
            for (int k = 0; k < order.length; k++) {
                label[childStart[n] + k] = l.charAt(order[k]);
                child[childStart[n] + k] = children.get(n).get(order[k]);
            }
        }
        failure = new int[nodes];
        breadthFirst = new int[nodes];
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        queue.add(0);
        int visited = 0;
        while (!queue.isEmpty()) {
            int node = queue.poll();
            breadthFirst[visited++] = node;
            for (int k = childStart[node]; k < childStart[node + 1]; k++) {
                int next = child[k];
                failure[next] = node == 0 ? 0 : step(failure[node], label[k]);
                queue.add(next);
            }
        }
    }

    /** By string: whether it occurs in {@code text}. */
    boolean[] occurring(String text) {
        boolean[] reached = new boolean[failure.length];
        int node = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (node == 0 && (firstChars[c >>> 6] & (1L << c)) == 0) continue; // the common case: nothing starts here
            node = step(node, c);
            reached[node] = true;
        }
        // a node reached means every string ending in its suffixes occurs too
        for (int k = breadthFirst.length - 1; k > 0; k--) if (reached[breadthFirst[k]]) reached[failure[breadthFirst[k]]] = true;
        boolean[] occurs = new boolean[terminal.length];
        for (int s = 0; s < terminal.length; s++) occurs[s] = reached[terminal[s]];
        return occurs;
    }

    /** The node after reading {@code c} at {@code node}: its child, or its failure's, or the root. */
    private int step(int node, char c) {
        while (true) {
            int next = childOf(node, c);
            if (next >= 0) return next;
            if (node == 0) return 0;
            node = failure[node];
        }
    }

    private int childOf(int node, char c) {
        int lo = childStart[node], hi = childStart[node + 1] - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (label[mid] < c) lo = mid + 1;
            else if (label[mid] > c) hi = mid - 1;
            else return child[mid];
        }
        return -1;
    }
}
