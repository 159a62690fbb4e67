package dev.kvfn.bench.suite;

import dev.kvfn.bench.suite.Results.Cell;
import dev.kvfn.bench.suite.Results.Stat;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The run as Markdown: the machine and command, the tables with min/median/max over rounds, the targets. */
final class Report {
    static final String PREFILL = "prefill", DECODE = "decode", STREAMS = "streams ", TTFT = "ttft ";
    static final List<String> PATHS = List.of("cold", "pool", "host", "redis");

    private final SuiteOptions o;
    private final Results r;
    private final Machine machine;
    private final Map<String, String> versions;
    private final String command;
    private final double minutes;

    Report(SuiteOptions o, Results r, Machine machine, Map<String, String> versions, String command, double minutes) {
        this.o = o;
        this.r = r;
        this.machine = machine;
        this.versions = versions;
        this.command = command;
        this.minutes = minutes;
    }

    String prefillLabel() {
        return "pp" + o.promptTokens();
    }

    String decodeLabel() {
        return "tg" + o.decodeTokens();
    }

    String markdown() {
        StringBuilder md = new StringBuilder();
        md.append("# kvfn benchmark suite\n\n");
        md.append("- date: ").append(ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"))).append('\n');
        md.append("- command: `").append(command).append("`\n");
        md.append(String.format("- mode: %s, %d rounds (peers interleaved in every round), %d threads for every engine, synthetic %s, %.1f minutes%n",
                o.mode(), o.rounds(), o.threads(), o.shape(), minutes));
        md.append("- machine: ").append(machine.describe()).append('\n');
        md.append("- CPU vector flags: ").append(Machine.vectorFlags()).append('\n');
        versions.forEach((k, v) -> md.append("- ").append(k).append(": ").append(v).append('\n'));
        if (!r.leftOut().isEmpty()) {
            md.append("\nLeft out:\n\n");
            r.leftOut().forEach((what, why) -> md.append("- ").append(what).append(": ").append(why.replace('\n', ' ')).append('\n'));
        }

        md.append(String.format("%n## Throughput, single stream (tokens/s)%n%n"));
        md.append(String.format("%s: a %d-token prompt over its time to first token. %s: %d greedy tokens after the first, per second. "
                        + "kvfn is the engine API in process; served is the packaged app over HTTP `/generate` (prefill: the client's time "
                        + "for a one-token request; decode: the `decodeTokensPerSecond` it reports); llama.cpp is node-llama-cpp's "
                        + "prebuilt CPU build; kherud is `de.kherud:llama` (llama.cpp through JNI). The ratio is the median over rounds "
                        + "of kvfn's value over the best peer's in the same round.%n%n",
                prefillLabel(), o.promptTokens(), decodeLabel(), o.decodeTokens()));
        md.append("| figure | type | engine | min | median | max | vs best peer (median of per-round ratios, range) |\n|---|---|---|---|---|---|---|\n");
        for (String figure : List.of(PREFILL, DECODE)) {
            for (String type : o.types()) {
                Optional<String> best = r.bestPeer(figure, type);
                for (String engine : r.engines(figure, type)) {
                    Cell c = new Cell(figure, type, engine);
                    Stat s = r.stat(c);
                    String ratio = "";
                    if ((engine.equals(Peer.KVFN) || engine.equals(Peer.SERVED)) && best.isPresent()) {
                        ratio = r.ratio(c, new Cell(figure, type, best.get())).map(x -> ratioText(x) + " vs " + best.get()).orElse("");
                    }
                    md.append(String.format("| %s | %s | %s | %s | %s | %s | %s |%n", figure.equals(PREFILL) ? prefillLabel() : decodeLabel(),
                            type, engine, num(s.min()), num(s.median()), num(s.max()), ratio));
                }
            }
        }

        String first = o.types().getFirst();
        md.append(String.format("%n## Aggregate decode, concurrent streams (%s, tokens/s)%n%n", first));
        md.append(String.format("Each stream: an 8-token prompt, then %d greedy tokens; tokens/s over the window where all streams decode "
                + "together. llama.cpp runs one sequence per stream in one context (batched into one llama_decode per step).%n%n", o.streamTokens()));
        md.append(String.format("| streams | engine | min | median | max | vs llama.cpp | vs kvfn's own %s |%n|---|---|---|---|---|---|---|%n", prefillLabel()));
        for (int n : o.streamCounts()) {
            for (String engine : r.engines(STREAMS + n, first)) {
                Cell c = new Cell(STREAMS + n, first, engine);
                Stat s = r.stat(c);
                String vsPeer = engine.equals(Peer.KVFN) ? r.ratio(c, new Cell(STREAMS + n, first, Peer.LLAMA_CPP)).map(Report::ratioText).orElse("") : "";
                String vsPp = engine.equals(Peer.KVFN) ? r.ratio(c, new Cell(PREFILL, first, Peer.KVFN)).map(Report::ratioText).orElse("") : "";
                md.append(String.format("| %d | %s | %s | %s | %s | %s | %s |%n", n, engine, num(s.min()), num(s.median()), num(s.max()), vsPeer, vsPp));
            }
        }

        md.append(String.format("%n## Time to first token by where the prefix is (kvfn, %s, ms)%n%n", first));
        md.append(String.format("A %d-token prompt whose first %d tokens are: nowhere (cold), in the pool, only in the host store "
                + "(pushed out of the pool), only in Redis (a replica that never saw them; real redis-server on loopback).%n%n",
                o.cachePrefix() + 16, o.cachePrefix()));
        md.append("| prefix in | min | median | max | vs pool (median of per-round ratios, range) |\n|---|---|---|---|---|\n");
        for (String path : PATHS) {
            Cell c = new Cell(TTFT + path, first, Peer.KVFN);
            if (r.values(c).isEmpty()) continue;
            Stat s = r.stat(c);
            String vs = r.ratio(c, new Cell(TTFT + "pool", first, Peer.KVFN)).map(Report::ratioText).orElse("");
            md.append(String.format("| %s | %s | %s | %s | %s |%n", path, num(s.min()), num(s.median()), num(s.max()), vs));
        }

        md.append(String.format("%n## Targets (issue 16; median of per-round ratios)%n%n| target | measured | met |%n|---|---|---|%n"));
        for (String type : o.types()) {
            double want = type.equals("Q8_0") ? 1.0 : 0.95;
            target(md, String.format("decode %s >= %.2fx llama.cpp", type, want), r.ratio(new Cell(DECODE, type, Peer.KVFN),
                    new Cell(DECODE, type, Peer.LLAMA_CPP)), want);
        }
        for (String type : o.types()) {
            if (!type.equals("Q8_0") && !type.equals("Q4_0")) continue;
            target(md, "prefill " + type + " >= 0.85x llama.cpp", r.ratio(new Cell(PREFILL, type, Peer.KVFN),
                    new Cell(PREFILL, type, Peer.LLAMA_CPP)), 0.85);
        }
        for (String type : o.types()) {
            target(md, "served decode " + type + " within 5% of in-process (>= 0.95x)", r.ratio(new Cell(DECODE, type, Peer.SERVED),
                    new Cell(DECODE, type, Peer.KVFN)), 0.95);
        }
        int most = o.streamCounts().getLast();
        target(md, most + " streams aggregate decode >= 0.8x kvfn's own " + prefillLabel() + " (" + first + ")",
                r.ratio(new Cell(STREAMS + most, first, Peer.KVFN), new Cell(PREFILL, first, Peer.KVFN)), 0.8);
        if (o.quick()) {
            md.append("\n--quick: a small model, short prompts and few rounds, to check that everything runs; the targets are for the full run (llama-1b).\n");
        }
        return md.toString();
    }

    private static void target(StringBuilder md, String what, Optional<Stat> ratio, double want) {
        md.append(String.format("| %s | %s | %s |%n", what, ratio.map(Report::ratioText).orElse("not measured"),
                ratio.map(s -> s.median() >= want ? "yes" : "**no**").orElse("—")));
    }

    static String ratioText(Stat s) {
        return String.format("%.2fx (%.2f–%.2f)", s.median(), s.min(), s.max());
    }

    static String num(double v) {
        if (Double.isNaN(v)) return "—";
        return v >= 100 ? String.format("%.0f", v) : String.format("%.1f", v);
    }
}
