package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.Tensor;

/** Picks the kernel for a tensor's type once, at load time. */
public final class Matrices {
    private Matrices() {}

    public static Matrix of(Tensor t, WorkerPool pool) {
        if (t.shape().length > 2) throw new IllegalArgumentException(t.name() + ": not a matrix");
        if (!t.type().supported()) throw new IllegalArgumentException(t.name() + ": tensor type " + t.type() + " is not supported");
        return new ScalarMatrix(t, pool);
    }
}
