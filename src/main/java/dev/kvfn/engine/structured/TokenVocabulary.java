package dev.kvfn.engine.structured;

import dev.kvfn.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.WeakHashMap;

/**
 * A model's tokens as the bytes they write, in a trie, so a grammar state's allowed tokens are found in one walk
 * that shares every common prefix and abandons a subtree at its first impossible byte. End-of-generation tokens
 * are kept apart (allowed only where the value is complete); tokens that write no bytes (BOS, control, unused)
 * are never allowed. Built once per tokenizer and shared; immutable.
 */
public final class TokenVocabulary {
    private static final Map<Tokenizer, TokenVocabulary> CACHE = new WeakHashMap<>();

    final int size;             // token ids are [0, size)
    final int[] endOfGeneration;
    final boolean[] ends;       // per token: whether it is one of endOfGeneration
    final byte[][] bytes;       // per token: what it writes (empty: never allowed, unless it ends generation)
    // the trie, children of a node contiguous: node n's edges are [edgeStart[n], edgeStart[n + 1])
    final int[] edgeStart;
    final byte[] edgeByte;
    final int[] edgeTarget;
    // tokens whose bytes end at node n: tokenIds[tokenStart[n] .. tokenStart[n + 1])
    final int[] tokenStart;
    final int[] tokenIds;
    final int maxTokenBytes;

    private TokenVocabulary(int size, int[] endOfGeneration, byte[][] bytes, int[] edgeStart, byte[] edgeByte, int[] edgeTarget,
                            int[] tokenStart, int[] tokenIds, int maxTokenBytes) {
        this.size = size;
        this.endOfGeneration = endOfGeneration;
        this.bytes = bytes;
        this.ends = new boolean[size];
        for (int t : endOfGeneration) ends[t] = true;
        this.edgeStart = edgeStart;
        this.edgeByte = edgeByte;
        this.edgeTarget = edgeTarget;
        this.tokenStart = tokenStart;
        this.tokenIds = tokenIds;
        this.maxTokenBytes = maxTokenBytes;
    }

    /** The vocabulary of {@code tokenizer} (built on first use, then cached while the tokenizer lives). */
    public static TokenVocabulary of(Tokenizer tokenizer) {
        synchronized (CACHE) {
            return CACHE.computeIfAbsent(tokenizer, TokenVocabulary::build);
        }
    }

    public int size() { return size; }

    private static final class Node {
        final TreeMap<Integer, Node> children = new TreeMap<>();
        final List<Integer> tokens = new ArrayList<>(1);
    }

    private static TokenVocabulary build(Tokenizer tokenizer) {
        int n = tokenizer.vocabSize();
        Node root = new Node();
        List<Integer> eog = new ArrayList<>();
        int longest = 0;
        byte[][] all = new byte[n][];
        for (int t = 0; t < n; t++) {
            all[t] = new byte[0];
            if (tokenizer.isEndOfGeneration(t)) {
                eog.add(t);
                continue;
            }
            byte[] bytes = tokenizer.tokenBytes(t);
            all[t] = bytes;
            if (bytes.length == 0) continue; // writes nothing: never allowed
            longest = Math.max(longest, bytes.length);
            Node at = root;
            for (byte x : bytes) at = at.children.computeIfAbsent(x & 0xff, k -> new Node());
            at.tokens.add(t);
        }
        if (eog.isEmpty()) {
            throw new IllegalArgumentException("the model's vocabulary has no end-of-generation token, so a structured "
                    + "output could never end");
        }
        // breadth-first numbering makes every node's children contiguous
        List<Node> order = new ArrayList<>();
        order.add(root);
        for (int i = 0; i < order.size(); i++) order.addAll(order.get(i).children.values());
        Map<Node, Integer> index = new java.util.IdentityHashMap<>();
        for (int i = 0; i < order.size(); i++) index.put(order.get(i), i);
        int nodes = order.size();
        int[] edgeStart = new int[nodes + 1], tokenStart = new int[nodes + 1];
        byte[] edgeByte = new byte[nodes - 1];
        int[] edgeTarget = new int[nodes - 1];
        int[] tokenIds = new int[n];
        int e = 0, k = 0;
        for (int i = 0; i < nodes; i++) {
            Node node = order.get(i);
            edgeStart[i] = e;
            tokenStart[i] = k;
            for (Map.Entry<Integer, Node> c : node.children.entrySet()) {
                edgeByte[e] = (byte) (int) c.getKey();
                edgeTarget[e++] = index.get(c.getValue());
            }
            for (int t : node.tokens) tokenIds[k++] = t;
        }
        edgeStart[nodes] = e;
        tokenStart[nodes] = k;
        return new TokenVocabulary(n, eog.stream().mapToInt(Integer::intValue).toArray(), all, edgeStart, edgeByte, edgeTarget,
                tokenStart, Arrays.copyOf(tokenIds, k), longest);
    }
}
