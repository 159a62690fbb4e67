package dev.kvfn.scheduler;

/**
 * What one forward step computes: for each scheduled sequence, {@code rows(i)} consecutive
 * positions from {@code firstPosition(i)}, and whether the last of them needs logits (its next
 * token is sampled). Sequences are in admission order, decode rows first. Reused every step: valid
 * until the scheduler plans the next one.
 */
public final class StepPlan {
    private final Sequence[] sequences;
    private final int[] first, rows;
    private final boolean[] logits;
    private int count, totalRows;

    StepPlan(int maxSeqs) {
        sequences = new Sequence[maxSeqs];
        first = new int[maxSeqs];
        rows = new int[maxSeqs];
        logits = new boolean[maxSeqs];
    }

    void clear() {
        java.util.Arrays.fill(sequences, 0, count, null); // keep no finished sequence alive
        count = 0;
        totalRows = 0;
    }

    void add(Sequence s, int firstPosition, int n, boolean wantLogits) {
        sequences[count] = s;
        first[count] = firstPosition;
        rows[count] = n;
        logits[count] = wantLogits;
        count++;
        totalRows += n;
    }

    /** Scheduled sequences this step. */
    public int size() { return count; }

    public boolean isEmpty() { return count == 0; }

    /** Token rows over all sequences. */
    public int rows() { return totalRows; }

    public Sequence sequence(int i) { return sequences[i]; }

    public int firstPosition(int i) { return first[i]; }

    public int rows(int i) { return rows[i]; }

    public boolean wantsLogits(int i) { return logits[i]; }
}
