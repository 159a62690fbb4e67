package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java reference kernels for every supported type: the fallback when the Vector API module
 * is absent and the yardstick the vector kernels are tested against.
 */
final class ScalarMatrix implements Matrix {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final GgmlType type;
    private final MemorySegment data;
    private final int rows;
    private final int cols;
    private final long rowBytes;
    private final WorkerPool pool;

    ScalarMatrix(Tensor t, WorkerPool pool) {
        this.type = t.type();
        this.data = t.data();
        this.rows = t.rows();
        this.cols = t.cols();
        this.rowBytes = t.type().bytesFor(cols);
        this.pool = pool;
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    @Override
    public void multiply(float[] x, float[] out, int batch) {
        Matrices.checkMultiply(this, x, out, batch);
        pool.forRange(rows, (from, to) -> {
            for (int r = from; r < to; r++) {
                long base = r * rowBytes;
                for (int b = 0; b < batch; b++) {
                    out[b * rows + r] = dot(base, x, b * cols);
                }
            }
        });
    }

    @Override
    public void row(int r, float[] dst, int offset) {
        Matrices.checkRow(this, r, dst, offset);
        long base = r * rowBytes;
        for (int c = 0; c < cols; c++) dst[offset + c] = get(base, c);
    }

    /** One switch per row, then a plain loop per type (a switch per element costs ~3x). */
    private float dot(long base, float[] x, int xo) {
        float sum = 0f;
        switch (type) {
            case F32 -> { for (int c = 0; c < cols; c++) sum += data.get(F32, base + 4L * c) * x[xo + c]; }
            case F16 -> { for (int c = 0; c < cols; c++) sum += Float.float16ToFloat(data.get(I16, base + 2L * c)) * x[xo + c]; }
            case BF16 -> { for (int c = 0; c < cols; c++) sum += Float.intBitsToFloat(data.get(I16, base + 2L * c) << 16) * x[xo + c]; }
            case Q8_0 -> {
                for (int c = 0; c < cols; c += 32, base += 34) {
                    float block = 0f;
                    for (int j = 0; j < 32; j++) block += data.get(ValueLayout.JAVA_BYTE, base + 2 + j) * x[xo + c + j];
                    sum += block * Float.float16ToFloat(data.get(I16, base));
                }
            }
            case Q4_0 -> {
                for (int c = 0; c < cols; c += 32, base += 18) {
                    float block = 0f;
                    for (int j = 0; j < 16; j++) {
                        int packed = data.get(ValueLayout.JAVA_BYTE, base + 2 + j) & 0xff;
                        block += ((packed & 0x0f) - 8) * x[xo + c + j] + ((packed >>> 4) - 8) * x[xo + c + 16 + j];
                    }
                    sum += block * Float.float16ToFloat(data.get(I16, base));
                }
            }
            default -> throw new IllegalStateException("unsupported " + type);
        }
        return sum;
    }

    /** Element {@code c} of the row starting at byte {@code base}. */
    private float get(long base, int c) {
        return switch (type) {
            case F32 -> data.get(F32, base + 4L * c);
            case F16 -> Float.float16ToFloat(data.get(I16, base + 2L * c));
            case BF16 -> Float.intBitsToFloat(data.get(I16, base + 2L * c) << 16);
            case Q8_0 -> {
                long block = base + (c / 32) * 34L;
                float d = Float.float16ToFloat(data.get(I16, block));
                yield d * data.get(ValueLayout.JAVA_BYTE, block + 2 + (c % 32));
            }
            case Q4_0 -> {
                long block = base + (c / 32) * 18L;
                float d = Float.float16ToFloat(data.get(I16, block));
                int j = c % 32;
                int packed = data.get(ValueLayout.JAVA_BYTE, block + 2 + (j & 15)) & 0xff;
                int q = j < 16 ? packed & 0x0f : packed >>> 4;
                yield d * (q - 8);
            }
            default -> throw new IllegalStateException("unsupported " + type);
        };
    }
}
