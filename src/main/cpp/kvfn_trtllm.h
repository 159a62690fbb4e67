/*
 * kvfn's C ABI over TensorRT-LLM's C++ Executor (kvfn_trtllm.cpp) and over the test double that has the same ABI
 * (src/test/cpp/fake_trtllm.cpp). JavaCPP generates the JNI for exactly this header (dev.kvfn.engine.trtllm.TrtllmNative).
 *
 * Rules of the boundary: no C++ exception crosses it (every call returns a status code and, on failure, writes a
 * NUL-terminated message into the caller's buffer); every buffer is the caller's (nothing allocated here is handed
 * out, so nothing can leak across it); one handle is used by one poller thread for await/events/stats and by any
 * thread for enqueue/cancel (the implementation locks what it shares).
 */
#ifndef KVFN_TRTLLM_H
#define KVFN_TRTLLM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define KVFN_TRTLLM_OK 0
#define KVFN_TRTLLM_E_ARGUMENT 1     /* a bad argument (the message says which) */
#define KVFN_TRTLLM_E_QUEUE_FULL 2   /* the executor's queue is full: retry later */
#define KVFN_TRTLLM_E_UNSUPPORTED 3  /* this TensorRT-LLM release cannot do what was asked (e.g. a cache salt) */
#define KVFN_TRTLLM_E_CLOSED 4       /* the executor is shut down */
#define KVFN_TRTLLM_E_NATIVE 5       /* TensorRT-LLM (or CUDA) failed; the message is its own */

/* Finish reasons of a final response (TensorRT-LLM's FinishReason, reduced). */
#define KVFN_TRTLLM_FINISH_NONE 0
#define KVFN_TRTLLM_FINISH_END_ID 1
#define KVFN_TRTLLM_FINISH_STOP_WORDS 2
#define KVFN_TRTLLM_FINISH_LENGTH 3
#define KVFN_TRTLLM_FINISH_CANCELLED 4
#define KVFN_TRTLLM_FINISH_TIMED_OUT 5

/* KV cache event kinds. */
#define KVFN_TRTLLM_KV_STORED 1      /* one block entered the reuse tree (its tokens follow) */
#define KVFN_TRTLLM_KV_REMOVED 2     /* one block left it */

/* Capacity scheduler policies (TensorRT-LLM's CapacitySchedulerPolicy). */
#define KVFN_TRTLLM_SCHED_MAX_UTILIZATION 0
#define KVFN_TRTLLM_SCHED_GUARANTEED_NO_EVICT 1
#define KVFN_TRTLLM_SCHED_STATIC_BATCH 2

typedef struct kvfn_trtllm kvfn_trtllm; /* opaque: one Executor */

/* How to build the executor. 0 (or a negative number) leaves a value to the engine's own default. */
typedef struct kvfn_trtllm_config {
    const char* engine_dir;            /* the TensorRT-LLM engine directory (config.json + rank*.engine) */
    int32_t max_batch_size;
    int32_t max_num_tokens;
    int32_t max_queue_size;            /* requests waiting at most; beyond, enqueue answers E_QUEUE_FULL */
    int32_t scheduler_policy;          /* KVFN_TRTLLM_SCHED_* */
    int32_t enable_block_reuse;        /* 1: prefix reuse (needed for KV events to mean anything) */
    int32_t kv_max_tokens;             /* KV cache size in tokens (0: by free_gpu_memory_fraction) */
    float free_gpu_memory_fraction;    /* share of free GPU memory for the KV cache */
    int64_t host_cache_bytes;          /* TensorRT-LLM's own host tier for offloaded blocks (0: none) */
    int32_t onboard_blocks;            /* 1: offloaded blocks are brought back to the GPU before reuse */
    int32_t event_buffer_max_size;     /* KV events kept before the oldest are dropped (> 0 for events) */
    int32_t iter_stats_max_iterations; /* iteration stats kept */
} kvfn_trtllm_config;

/* One request. */
typedef struct kvfn_trtllm_request {
    const int32_t* tokens;             /* prompt token ids */
    int32_t token_count;
    int32_t max_new_tokens;
    int32_t end_id;                    /* < 0: none */
    float temperature;                 /* 0: greedy */
    int32_t top_k;                     /* <= 0: off */
    float top_p;                       /* >= 1: off */
    float min_p;                       /* <= 0: off */
    uint64_t seed;
    uint64_t cache_salt;               /* 0: none; else isolates reuse (only where the release supports it) */
    int32_t retention_priority;        /* 0..100 for the prompt's blocks; < 0: the engine's default */
    int32_t streaming;                 /* 1: one response per new token(s) */
} kvfn_trtllm_request;

/* One response (or part of one) written by kvfn_trtllm_await. */
typedef struct kvfn_trtllm_response {
    uint64_t request_id;
    int32_t token_offset;              /* where its new tokens start in the caller's token buffer */
    int32_t token_count;               /* new tokens (streaming: since the last response) */
    int32_t is_final;                  /* 1: the request is done and freed; no more responses for it */
    int32_t finish_reason;             /* KVFN_TRTLLM_FINISH_* when final */
    int32_t error;                     /* 0, or a KVFN_TRTLLM_E_* code: the request failed (final) */
    int32_t message_offset;            /* its error text in the caller's message buffer */
    int32_t message_length;
    int32_t reused_tokens;             /* prompt tokens whose KV was reused (-1: unknown) */
} kvfn_trtllm_response;

/* One KV cache event, block by block. */
typedef struct kvfn_trtllm_kv_event {
    int32_t kind;                      /* KVFN_TRTLLM_KV_* */
    uint64_t block_hash;               /* the engine's own 64-bit block hash */
    uint64_t parent_hash;              /* STORED: the parent block's hash, if has_parent */
    int32_t has_parent;
    int32_t token_offset;              /* STORED: its tokens in the caller's token buffer */
    int32_t token_count;
    int32_t cache_level;               /* 0: GPU, 1: TensorRT-LLM's host tier */
} kvfn_trtllm_kv_event;

/* The latest iteration's numbers. */
typedef struct kvfn_trtllm_stats {
    int64_t iterations;                /* iterations run since start */
    int32_t queued_requests;
    int32_t active_requests;
    int32_t tokens_per_block;
    int64_t max_blocks;
    int64_t free_blocks;
    int64_t used_blocks;
    int64_t reused_blocks;             /* since start */
    int64_t missed_blocks;             /* since start */
} kvfn_trtllm_stats;

/* Creates an executor; *out is set on success only. */
int32_t kvfn_trtllm_create(const kvfn_trtllm_config* config, kvfn_trtllm** out, char* message, int32_t message_capacity);

/* Shuts the executor down and frees everything the handle holds. NULL is ignored. */
void kvfn_trtllm_destroy(kvfn_trtllm* handle);

/* Tokens per KV block of the loaded engine. */
int32_t kvfn_trtllm_tokens_per_block(kvfn_trtllm* handle);

/* Enqueues a request; *request_id is set on success. */
int32_t kvfn_trtllm_enqueue(kvfn_trtllm* handle, const kvfn_trtllm_request* request, uint64_t* request_id,
                            char* message, int32_t message_capacity);

/* Asks the executor to stop a request; its final response (CANCELLED) still comes through await. */
int32_t kvfn_trtllm_cancel(kvfn_trtllm* handle, uint64_t request_id, char* message, int32_t message_capacity);

/*
 * Waits up to timeout_ms for responses and writes at most max_responses of them, their new tokens into tokens
 * (capacity token_capacity) and error texts into messages (capacity message_capacity). What does not fit waits for
 * the next call (a response whose tokens do not all fit is split; its is_final comes with its last part).
 * *count is the number written.
 */
int32_t kvfn_trtllm_await(kvfn_trtllm* handle, int32_t timeout_ms, kvfn_trtllm_response* responses, int32_t max_responses,
                          int32_t* tokens, int32_t token_capacity, char* messages, int32_t message_capacity, int32_t* count,
                          char* message, int32_t error_capacity);

/* Drains KV cache events (waiting up to timeout_ms for the first); same buffer rules as await. */
int32_t kvfn_trtllm_kv_events(kvfn_trtllm* handle, int32_t timeout_ms, kvfn_trtllm_kv_event* events, int32_t max_events,
                              int32_t* tokens, int32_t token_capacity, int32_t* count, char* message, int32_t message_capacity);

/* The latest iteration stats (unchanged when none arrived since the last call). */
int32_t kvfn_trtllm_stats_get(kvfn_trtllm* handle, kvfn_trtllm_stats* stats, char* message, int32_t message_capacity);

#ifdef __cplusplus
}
#endif

#endif /* KVFN_TRTLLM_H */
