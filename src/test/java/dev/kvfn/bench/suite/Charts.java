package dev.kvfn.bench.suite;

import dev.kvfn.bench.suite.Results.Cell;
import dev.kvfn.bench.suite.Results.Stat;
import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * PNG charts of a run (XChart): per category (model type, stream count, cache path) one dot per engine at the
 * median over rounds, with a whisker from the minimum to the maximum and the median written beside it.
 */
final class Charts {
    private static final Map<String, Color> COLORS = Map.of(
            Peer.KVFN, new Color(0x1f77b4), Peer.SERVED, new Color(0x6baed6),
            Peer.LLAMA_CPP, new Color(0xff7f0e), Peer.KHERUD, new Color(0x2ca02c));
    private static final List<String> ORDER = List.of(Peer.KVFN, Peer.SERVED, Peer.LLAMA_CPP, Peer.KHERUD);

    private Charts() {}

    /** Writes prefill.png and decode.png (per type and engine), streams.png and ttft.png; returns the files. */
    static List<Path> write(SuiteOptions o, Results r, Report report, Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        List<String> types = o.types();
        String rounds = String.format("synthetic %s, %d threads; dot: median, whisker: min-max over %d round%s", o.shape(), o.threads(),
                o.rounds(), o.rounds() == 1 ? "" : "s");
        files.add(save(chart("Prefill " + report.prefillLabel() + " (" + rounds + ")", "tokens/s", types,
                (i, engine) -> r.stat(new Cell(Report.PREFILL, types.get(i), engine)), false), dir.resolve("prefill")));
        files.add(save(chart("Decode " + report.decodeLabel() + " (" + rounds + ")", "tokens/s", types,
                (i, engine) -> r.stat(new Cell(Report.DECODE, types.get(i), engine)), false), dir.resolve("decode")));

        String first = types.getFirst();
        List<String> streamCategories = o.streamCounts().stream().map(n -> n + (n == 1 ? " stream" : " streams")).toList();
        files.add(save(chart(String.format("Aggregate decode, %s, %d tokens per stream", first, o.streamTokens()), "tokens/s",
                streamCategories, (i, engine) -> r.stat(new Cell(Report.STREAMS + o.streamCounts().get(i), first, engine)), false),
                dir.resolve("streams")));

        List<String> paths = Report.PATHS;
        files.add(save(chart(String.format("kvfn time to first token, %d-token prompt, %d-token prefix in (log scale)",
                        o.cachePrefix() + 16, o.cachePrefix()), "ms", paths.stream().map(p -> p.equals("cold") ? "nowhere (cold)" : p).toList(),
                (i, engine) -> r.stat(new Cell(Report.TTFT + paths.get(i), first, engine)), true), dir.resolve("ttft")));
        return files;
    }

    private static XYChart chart(String title, String yTitle, List<String> categories, BiFunction<Integer, String, Stat> stat, boolean logY) {
        XYChart chart = new XYChartBuilder().width(900).height(480).title(title).yAxisTitle(yTitle).build();
        var styler = chart.getStyler();
        styler.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        styler.setLegendPosition(Styler.LegendPosition.OutsideE);
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        styler.setPlotGridVerticalLinesVisible(false);
        styler.setMarkerSize(10);
        // categories are written over the plot (XChart's numeric x axis has no category labels)
        styler.setXAxisTitleVisible(false);
        styler.setXAxisTicksVisible(false);
        styler.setXAxisMin(-0.5);
        styler.setXAxisMax(categories.size() - 0.5);
        styler.setYAxisLogarithmic(logY);
        if (!logY) styler.setYAxisMin(0.0);

        List<String> engines = new ArrayList<>();
        for (String e : ORDER) {
            for (int i = 0; i < categories.size(); i++) {
                if (stat.apply(i, e).n() > 0) {
                    engines.add(e);
                    break;
                }
            }
        }
        if (engines.isEmpty()) {
            chart.addSeries("nothing measured", new double[] {0}, new double[] {logY ? 1 : 0}).setShowInLegend(true);
            return chart;
        }
        double top = 0;
        for (String e : engines) for (int i = 0; i < categories.size(); i++) if (stat.apply(i, e).n() > 0) top = Math.max(top, stat.apply(i, e).max());
        double bottom = Double.MAX_VALUE;
        for (String e : engines) for (int i = 0; i < categories.size(); i++) if (stat.apply(i, e).n() > 0) bottom = Math.min(bottom, stat.apply(i, e).min());
        styler.setYAxisMax(logY ? top * 6 : top * 1.2);
        if (logY) styler.setYAxisMin(bottom / 2);
        styler.setAnnotationTextFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i < categories.size(); i++) {
            chart.addAnnotation(new AnnotationText(categories.get(i), i, logY ? top * 3.5 : top * 1.13, false));
        }
        double width = 0.7, gap = width / engines.size();
        for (int j = 0; j < engines.size(); j++) {
            String engine = engines.get(j);
            Color color = COLORS.getOrDefault(engine, Color.DARK_GRAY);
            List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
            for (int i = 0; i < categories.size(); i++) {
                Stat s = stat.apply(i, engine);
                if (s.n() == 0) continue;
                double x = i - width / 2 + gap * (j + 0.5), cap = gap * 0.2;
                xs.add(x);
                ys.add(s.median());
                XYSeries whisker = chart.addSeries(engine + " range " + i, new double[] {x - cap, x + cap, x, x, x - cap, x + cap},
                        new double[] {s.min(), s.min(), s.min(), s.max(), s.max(), s.max()});
                whisker.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
                whisker.setMarker(SeriesMarkers.NONE);
                whisker.setLineColor(color);
                whisker.setLineStyle(new BasicStroke(1.5f));
                whisker.setShowInLegend(false);
                double above = logY ? s.max() * 1.25 : s.max() + top * 0.04; // the median's value over its whisker
                chart.addAnnotation(new AnnotationText(Report.num(s.median()), x, above, false));
            }
            XYSeries dots = chart.addSeries(engine, xs, ys);
            dots.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            dots.setMarker(SeriesMarkers.CIRCLE);
            dots.setMarkerColor(color);
        }
        return chart;
    }

    private static Path save(XYChart chart, Path base) throws IOException {
        BitmapEncoder.saveBitmapWithDPI(chart, base.toString(), BitmapEncoder.BitmapFormat.PNG, 96);
        return Path.of(base + ".png");
    }
}
