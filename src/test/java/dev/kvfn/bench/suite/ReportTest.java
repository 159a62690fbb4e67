package dev.kvfn.bench.suite;

import dev.kvfn.bench.suite.Results.Cell;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportTest {

    @Test
    void targetsAreJudgedOnTheMedianOfPerRoundRatios() {
        SuiteOptions o = SuiteOptions.parse(new String[] {"--rounds", "2", "--types", "Q8_0,Q4_K_M"});
        Results r = new Results(2);
        for (int round = 0; round < 2; round++) {
            r.add(new Cell(Report.DECODE, "Q8_0", Peer.KVFN), round, 20);
            r.add(new Cell(Report.DECODE, "Q8_0", Peer.LLAMA_CPP), round, 19);       // 1.05x: met (>= 1.0)
            r.add(new Cell(Report.DECODE, "Q4_K_M", Peer.KVFN), round, 18.6);
            r.add(new Cell(Report.DECODE, "Q4_K_M", Peer.LLAMA_CPP), round, 20);     // 0.93x: not met (>= 0.95)
            r.add(new Cell(Report.DECODE, "Q8_0", Peer.SERVED), round, 19.2);       // 0.96x of in-process: met
            r.add(new Cell(Report.PREFILL, "Q8_0", Peer.KVFN), round, 80);
            r.add(new Cell(Report.PREFILL, "Q8_0", Peer.LLAMA_CPP), round, 100);    // 0.80x: not met (>= 0.85)
            r.add(new Cell(Report.STREAMS + 16, "Q8_0", Peer.KVFN), round, 68);      // 0.85x of kvfn's prefill: met
        }
        Machine m = new Machine("test CPU", 2, 8L << 30, 20, 30, 2, "Java");
        String md = new Report(o, r, m, Map.of(), "cmd", 1).markdown();
        assertTrue(md.contains("| decode Q8_0 >= 1.00x llama.cpp | 1.05x (1.05–1.05) | yes |"), md);
        assertTrue(md.contains("| decode Q4_K_M >= 0.95x llama.cpp | 0.93x (0.93–0.93) | **no** |"), md);
        assertTrue(md.contains("| prefill Q8_0 >= 0.85x llama.cpp | 0.80x (0.80–0.80) | **no** |"), md);
        assertTrue(md.contains("| served decode Q8_0 within 5% of in-process (>= 0.95x) | 0.96x (0.96–0.96) | yes |"), md);
        assertTrue(md.contains("| served decode Q4_K_M within 5% of in-process (>= 0.95x) | not measured | — |"), md);
        assertTrue(md.contains("| 16 streams aggregate decode >= 0.8x kvfn's own pp512 (Q8_0) | 0.85x (0.85–0.85) | yes |"), md);
        assertTrue(md.contains("| pp512 | Q8_0 | kvfn | 80.0 | 80.0 | 80.0 | 0.80x (0.80–0.80) vs llama.cpp |"), md);
    }
}
