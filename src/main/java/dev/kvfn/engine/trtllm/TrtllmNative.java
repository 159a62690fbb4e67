package dev.kvfn.engine.trtllm;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.ByPtrPtr;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.MemberGetter;
import org.bytedeco.javacpp.annotation.Opaque;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The Java side of {@code src/main/cpp/kvfn_trtllm.h}, one declaration per C declaration. JavaCPP's Builder reads
 * this class at build time and generates (and compiles) the JNI for it: {@code libjniTrtllmNative.so}, linked against
 * {@code libkvfn_trtllm.so} (the real one over TensorRT-LLM, or the test double with the same ABI). Nothing here is
 * hand-written JNI. Loading it ({@link #load()}) needs both libraries; only {@link TrtllmEngine} calls it.
 */
@Properties(target = "dev.kvfn.engine.trtllm.TrtllmNative", value = @Platform(include = "kvfn_trtllm.h", link = "kvfn_trtllm"))
public final class TrtllmNative {
    private TrtllmNative() {}

    private static volatile boolean loaded;

    /** Loads the JNI library and libkvfn_trtllm.so; a failure says what is missing. */
    public static synchronized void load() {
        if (loaded) return;
        try {
            Loader.load(TrtllmNative.class);
        } catch (UnsatisfiedLinkError e) {
            throw new IllegalStateException("kvfn.engine=trtllm: cannot load the TensorRT-LLM binding (libjniTrtllmNative.so and "
                    + "libkvfn_trtllm.so with TensorRT-LLM's libraries on LD_LIBRARY_PATH; see README \"TensorRT-LLM engine\"): "
                    + e.getMessage(), e);
        }
        loaded = true;
    }

    public static final int OK = 0, E_ARGUMENT = 1, E_QUEUE_FULL = 2, E_UNSUPPORTED = 3, E_CLOSED = 4, E_NATIVE = 5;
    public static final int FINISH_NONE = 0, FINISH_END_ID = 1, FINISH_STOP_WORDS = 2, FINISH_LENGTH = 3, FINISH_CANCELLED = 4,
            FINISH_TIMED_OUT = 5;
    public static final int KV_STORED = 1, KV_REMOVED = 2;
    public static final int SCHED_MAX_UTILIZATION = 0, SCHED_GUARANTEED_NO_EVICT = 1, SCHED_STATIC_BATCH = 2;

    /** The opaque executor handle. */
    @Opaque
    public static class kvfn_trtllm extends Pointer {
        public kvfn_trtllm() {
            super((Pointer) null);
        }
    }

    public static class kvfn_trtllm_config extends Pointer {
        static { Loader.load(); }
        public kvfn_trtllm_config() { super((Pointer) null); allocate(); }
        private native void allocate();

        public native @Cast("const char*") BytePointer engine_dir(); public native kvfn_trtllm_config engine_dir(BytePointer v);
        public native int max_batch_size(); public native kvfn_trtllm_config max_batch_size(int v);
        public native int max_num_tokens(); public native kvfn_trtllm_config max_num_tokens(int v);
        public native int max_queue_size(); public native kvfn_trtllm_config max_queue_size(int v);
        public native int scheduler_policy(); public native kvfn_trtllm_config scheduler_policy(int v);
        public native int enable_block_reuse(); public native kvfn_trtllm_config enable_block_reuse(int v);
        public native int kv_max_tokens(); public native kvfn_trtllm_config kv_max_tokens(int v);
        public native float free_gpu_memory_fraction(); public native kvfn_trtllm_config free_gpu_memory_fraction(float v);
        public native long host_cache_bytes(); public native kvfn_trtllm_config host_cache_bytes(long v);
        public native int onboard_blocks(); public native kvfn_trtllm_config onboard_blocks(int v);
        public native int event_buffer_max_size(); public native kvfn_trtllm_config event_buffer_max_size(int v);
        public native int iter_stats_max_iterations(); public native kvfn_trtllm_config iter_stats_max_iterations(int v);
    }

    public static class kvfn_trtllm_request extends Pointer {
        static { Loader.load(); }
        public kvfn_trtllm_request() { super((Pointer) null); allocate(); }
        private native void allocate();

        public native @Cast("const int32_t*") IntPointer tokens(); public native kvfn_trtllm_request tokens(IntPointer v);
        public native int token_count(); public native kvfn_trtllm_request token_count(int v);
        public native int max_new_tokens(); public native kvfn_trtllm_request max_new_tokens(int v);
        public native int end_id(); public native kvfn_trtllm_request end_id(int v);
        public native float temperature(); public native kvfn_trtllm_request temperature(float v);
        public native int top_k(); public native kvfn_trtllm_request top_k(int v);
        public native float top_p(); public native kvfn_trtllm_request top_p(float v);
        public native float min_p(); public native kvfn_trtllm_request min_p(float v);
        public native @Cast("uint64_t") long seed(); public native kvfn_trtllm_request seed(long v);
        public native @Cast("uint64_t") long cache_salt(); public native kvfn_trtllm_request cache_salt(long v);
        public native int retention_priority(); public native kvfn_trtllm_request retention_priority(int v);
        public native int streaming(); public native kvfn_trtllm_request streaming(int v);
    }

    public static class kvfn_trtllm_response extends Pointer {
        static { Loader.load(); }
        public kvfn_trtllm_response(long size) { super((Pointer) null); allocateArray(size); }
        private native void allocateArray(long size);
        @Override public kvfn_trtllm_response position(long position) { return (kvfn_trtllm_response) super.position(position); }

        @MemberGetter public native @Cast("uint64_t") long request_id();
        @MemberGetter public native int token_offset();
        @MemberGetter public native int token_count();
        @MemberGetter public native int is_final();
        @MemberGetter public native int finish_reason();
        @MemberGetter public native int error();
        @MemberGetter public native int message_offset();
        @MemberGetter public native int message_length();
        @MemberGetter public native int reused_tokens();
    }

    public static class kvfn_trtllm_kv_event extends Pointer {
        static { Loader.load(); }
        public kvfn_trtllm_kv_event(long size) { super((Pointer) null); allocateArray(size); }
        private native void allocateArray(long size);
        @Override public kvfn_trtllm_kv_event position(long position) { return (kvfn_trtllm_kv_event) super.position(position); }

        @MemberGetter public native int kind();
        @MemberGetter public native @Cast("uint64_t") long block_hash();
        @MemberGetter public native @Cast("uint64_t") long parent_hash();
        @MemberGetter public native int has_parent();
        @MemberGetter public native int token_offset();
        @MemberGetter public native int token_count();
        @MemberGetter public native int cache_level();
    }

    public static class kvfn_trtllm_stats extends Pointer {
        static { Loader.load(); }
        public kvfn_trtllm_stats() { super((Pointer) null); allocate(); }
        private native void allocate();

        @MemberGetter public native long iterations();
        @MemberGetter public native int queued_requests();
        @MemberGetter public native int active_requests();
        @MemberGetter public native int tokens_per_block();
        @MemberGetter public native long max_blocks();
        @MemberGetter public native long free_blocks();
        @MemberGetter public native long used_blocks();
        @MemberGetter public native long reused_blocks();
        @MemberGetter public native long missed_blocks();
    }

    public static native int kvfn_trtllm_create(@Const kvfn_trtllm_config config, @ByPtrPtr kvfn_trtllm out,
                                                @Cast("char*") byte[] message, int capacity);

    public static native void kvfn_trtllm_destroy(kvfn_trtllm handle);

    public static native int kvfn_trtllm_tokens_per_block(kvfn_trtllm handle);

    public static native int kvfn_trtllm_enqueue(kvfn_trtllm handle, @Const kvfn_trtllm_request request,
                                                 @Cast("uint64_t*") long[] requestId, @Cast("char*") byte[] message, int capacity);

    public static native int kvfn_trtllm_cancel(kvfn_trtllm handle, @Cast("uint64_t") long requestId,
                                                @Cast("char*") byte[] message, int capacity);

    public static native int kvfn_trtllm_await(kvfn_trtllm handle, int timeoutMs, kvfn_trtllm_response responses, int maxResponses,
                                               IntPointer tokens, int tokenCapacity, @Cast("char*") BytePointer messages,
                                               int messageCapacity, int[] count, @Cast("char*") byte[] message, int errorCapacity);

    public static native int kvfn_trtllm_kv_events(kvfn_trtllm handle, int timeoutMs, kvfn_trtllm_kv_event events, int maxEvents,
                                                   IntPointer tokens, int tokenCapacity, int[] count,
                                                   @Cast("char*") byte[] message, int capacity);

    public static native int kvfn_trtllm_stats_get(kvfn_trtllm handle, kvfn_trtllm_stats stats, @Cast("char*") byte[] message,
                                                   int capacity);
}
