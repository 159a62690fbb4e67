package dev.kvfn.bench;

import dev.kvfn.engine.cpu.PagedKv;
import dev.kvfn.kv.BlockMemory;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;

import java.util.SplittableRandom;

/**
 * Paged attention alone, one thread: {@code rows} query rows at the end of a {@code context}-token
 * sequence, every layer and head of the llama-1b shape (16 layers, 32 heads over 8 kv heads of 64).
 * Compares grouped (one K/V read per 4 query heads) with per-head attention, per KV element type.
 * Run: {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes dev.kvfn.bench.AttentionBench}
 */
public final class AttentionBench {
    public static void main(String[] args) {
        int layers = 16, kvHeads = 8, group = 4, hs = 64, context = Integer.getInteger("context", 2048), rows = 64;
        int chunk = Integer.getInteger("chunk", 8);
        System.out.printf("| KV type | grouped ms | per-head ms | GFLOP/s grouped |%n|---|---|---|---|%n");
        for (KvElementType type : KvElementType.values()) {
            var layout = new KvLayout(layers, kvHeads, hs, 16, type);
            var pool = new BlockPool(context / 16 + 1);
            try (var memory = new BlockMemory(layout, context / 16 + 1)) {
                var table = new BlockTable(pool, 16, context);
                var store = new PagedKv(memory, table);
                var rng = new SplittableRandom(1);
                float[] k = new float[kvHeads * hs], v = new float[kvHeads * hs];
                for (int p = 0; p < context; p++) {
                    if (p % 16 == 0) table.append(pool.allocate());
                    for (int l = 0; l < layers; l++) {
                        for (int i = 0; i < k.length; i++) {
                            k[i] = (float) rng.nextGaussian();
                            v[i] = (float) rng.nextGaussian();
                        }
                        store.write(l, p, k, 0, v, 0);
                    }
                }
                float[] q = new float[kvHeads * group * hs], out = new float[q.length], rowsOut = new float[64 * q.length];
                for (int i = 0; i < q.length; i++) q[i] = (float) rng.nextGaussian() * 0.1f;
                double bestG = 1e9, bestH = 1e9;
                for (int rep = 0; rep < 5; rep++) {
                    long t0 = System.nanoTime();
                    // the forward pass's order: layer by layer, pairs head-major (one kv head's blocks stay in cache across rows)
                    for (int l = 0; l < layers; l++) {
                        for (int kh = 0; kh < kvHeads; kh++) {
                            for (int r = 0; r < rows; r += chunk) { // chunks of rows, as the forward pass makes them
                                store.attendRows(l, kh, context - rows + r + 1, chunk, q, kh * group * hs, 0, group, 0.125f, rowsOut,
                                        kh * group * hs, kvHeads * group * hs, hs);
                            }
                        }
                    }
                    long t1 = System.nanoTime();
                    for (int l = 0; l < layers; l++) {
                        for (int h = 0; h < kvHeads * group; h++) {
                            for (int r = 0; r < rows; r++) {
                                store.attend(l, h / group, context - rows + r + 1, q, h * hs, 0.125f, out, h * hs, hs);
                            }
                        }
                    }
                    long t2 = System.nanoTime();
                    bestG = Math.min(bestG, (t1 - t0) / 1e6);
                    bestH = Math.min(bestH, (t2 - t1) / 1e6);
                }
                double flops = 4.0 * rows * layers * kvHeads * group * (double) context * hs;
                System.out.printf("| %s | %.1f | %.1f | %.1f |%n", type.configName(), bestG, bestH, flops / bestG / 1e6);
            }
        }
    }
}
