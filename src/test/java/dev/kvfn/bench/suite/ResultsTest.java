package dev.kvfn.bench.suite;

import dev.kvfn.bench.suite.Results.Cell;
import dev.kvfn.bench.suite.Results.Stat;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResultsTest {

    @Test
    void statsSkipRoundsThatWereNotMeasured() {
        Stat s = Stat.of(new double[] {3, Double.NaN, 1, 2});
        assertEquals(new Stat(1, 2, 3, 3), s);
        assertEquals(new Stat(1, 1.5, 2, 2), Stat.of(new double[] {2, 1}));
        assertEquals(0, Stat.of(new double[] {Double.NaN}).n());
    }

    @Test
    void ratiosArePairedPerRoundThenTheirMedianIsTaken() {
        Results r = new Results(3);
        Cell kvfn = new Cell("decode", "Q8_0", Peer.KVFN), llama = new Cell("decode", "Q8_0", Peer.LLAMA_CPP);
        double[] a = {10, 20, 30}, b = {20, 10, 30};
        for (int i = 0; i < 3; i++) {
            r.add(kvfn, i, a[i]);
            r.add(llama, i, b[i]);
        }
        // per round 0.5, 2, 1: median 1, whereas the ratio of medians would also be 1 but the range shows the swing
        Stat ratio = r.ratio(kvfn, llama).orElseThrow();
        assertEquals(new Stat(0.5, 1, 2, 3), ratio);
        assertEquals(Optional.empty(), r.ratio(kvfn, new Cell("decode", "Q8_0", Peer.KHERUD)));
    }

    @Test
    void theBestPeerIsNeverKvfnItself() {
        Results r = new Results(1);
        r.add(new Cell("prefill", "Q4_0", Peer.KVFN), 0, 500);
        r.add(new Cell("prefill", "Q4_0", Peer.SERVED), 0, 400);
        r.add(new Cell("prefill", "Q4_0", Peer.LLAMA_CPP), 0, 200);
        r.add(new Cell("prefill", "Q4_0", Peer.KHERUD), 0, 150);
        assertEquals(Optional.of(Peer.LLAMA_CPP), r.bestPeer("prefill", "Q4_0"));
        assertEquals(List.of(Peer.KVFN, Peer.SERVED, Peer.LLAMA_CPP, Peer.KHERUD), r.engines("prefill", "Q4_0"));
        assertTrue(r.bestPeer("decode", "Q4_0").isEmpty());
    }
}
