package dev.kvfn.bench.suite;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Every measured value of a run, by figure, model type, engine and round. Ratios are taken per round (both sides
 * measured minutes apart in the same round, so a machine that speeds up or slows down moves them alike) and then
 * summarized by their median.
 */
final class Results {
    /** One figure of one engine on one model type, e.g. ("decode", "Q8_0", "llama.cpp"). */
    record Cell(String figure, String type, String engine) {}

    /** Min, median and max over rounds. */
    record Stat(double min, double median, double max, int n) {
        static Stat of(double[] values) {
            double[] v = Arrays.stream(values).filter(x -> !Double.isNaN(x)).sorted().toArray();
            if (v.length == 0) return new Stat(Double.NaN, Double.NaN, Double.NaN, 0);
            double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
            return new Stat(v[0], median, v[v.length - 1], v.length);
        }
    }

    private final int rounds;
    private final Map<Cell, double[]> values = new LinkedHashMap<>();
    private final Map<String, String> leftOut = new LinkedHashMap<>();

    Results(int rounds) {
        this.rounds = rounds;
    }

    void add(Cell cell, int round, double value) {
        values.computeIfAbsent(cell, c -> {
            double[] v = new double[rounds];
            Arrays.fill(v, Double.NaN);
            return v;
        })[round] = value;
    }

    /** An engine (or a figure of one) that did not run, and why. */
    void leftOut(String what, String why) {
        leftOut.put(what, why);
    }

    Map<String, String> leftOut() {
        return leftOut;
    }

    Optional<double[]> values(Cell cell) {
        return Optional.ofNullable(values.get(cell));
    }

    Stat stat(Cell cell) {
        return Stat.of(values.getOrDefault(cell, new double[0]));
    }

    /** Engines with values for this figure and type, in the order they were first recorded. */
    List<String> engines(String figure, String type) {
        List<String> out = new ArrayList<>();
        for (Cell c : values.keySet()) if (c.figure().equals(figure) && c.type().equals(type)) out.add(c.engine());
        return out;
    }

    List<String> figures() {
        return values.keySet().stream().map(Cell::figure).distinct().toList();
    }

    /** The median over rounds of {@code a[r] / b[r]}, with the range, over rounds where both were measured. */
    Optional<Stat> ratio(Cell a, Cell b) {
        double[] x = values.get(a), y = values.get(b);
        if (x == null || y == null) return Optional.empty();
        double[] r = new double[rounds];
        for (int i = 0; i < rounds; i++) r[i] = x[i] / y[i];
        Stat s = Stat.of(r);
        return s.n() == 0 ? Optional.empty() : Optional.of(s);
    }

    /** Among the engines that are not kvfn's, the one with the highest median for this figure and type. */
    Optional<String> bestPeer(String figure, String type) {
        String best = null;
        double bestMedian = Double.NEGATIVE_INFINITY;
        for (String e : engines(figure, type)) {
            if (e.equals(Peer.KVFN) || e.equals(Peer.SERVED)) continue;
            double m = stat(new Cell(figure, type, e)).median();
            if (m > bestMedian) {
                bestMedian = m;
                best = e;
            }
        }
        return Optional.ofNullable(best);
    }
}
