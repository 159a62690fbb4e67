package dev.kvfn.engine.cpu;

/** One sequence through a {@link Transformer}, in steps of at most {@link Transformer#maxRows()} rows (tests only). */
final class Prefill {
    private Prefill() {}

    /**
     * Runs {@code tokens[from .. from+count)} at positions {@code startPos ..} of the sequence in
     * {@code kv} and returns the logits of the last one (a fresh array).
     */
    static float[] forward(Transformer t, int[] tokens, int from, int count, int startPos, SequenceKv kv) {
        if (count < 1 || from < 0 || from + count > tokens.length) {
            throw new IllegalArgumentException("token range [" + from + ", " + (from + count) + ") is not inside an array of "
                    + tokens.length);
        }
        // positions past the store are the Transformer's to refuse (TransformerTest checks that it does)
        int vocab = t.config().vocab();
        float[] logits = new float[vocab];
        for (int done = 0; done < count; ) {
            int n = Math.min(t.maxRows(), count - done);
            int[] rows = java.util.Arrays.copyOfRange(tokens, from + done, from + done + n);
            int[] positions = new int[n];
            SequenceKv[] stores = new SequenceKv[n];
            for (int b = 0; b < n; b++) {
                positions[b] = startPos + done + b;
                stores[b] = kv;
            }
            boolean last = done + n == count;
            t.forward(rows, positions, stores, n, new int[] {n - 1}, last ? 1 : 0, logits);
            done += n;
        }
        return logits;
    }
}
