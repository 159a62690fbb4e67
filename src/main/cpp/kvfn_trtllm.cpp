// kvfn's C ABI (kvfn_trtllm.h) over TensorRT-LLM's C++ Executor (tensorrt_llm::executor, cpp/include/tensorrt_llm/executor/
// executor.h). Every entry point catches everything: no C++ exception crosses into the JVM; failures become a status
// code and the exception's text. Built only by `./mvnw -Ptrtllm` (src/main/cpp/build-kvfn-trtllm.sh); the default build
// links the same JNI against the test double src/test/cpp/fake_trtllm.cpp instead.
//
// Optional features of newer releases are compiled in with -D flags (see the README, "TensorRT-LLM engine"):
//   KVFN_TRTLLM_CACHE_SALT  Request::setCacheSaltID exists (per-tenant isolation of block reuse)
#include "kvfn_trtllm.h"

#include "tensorrt_llm/executor/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tle = tensorrt_llm::executor;

namespace {

void put_message(char* out, int32_t capacity, std::string const& text) {
    if (out == nullptr || capacity <= 0) return;
    size_t n = std::min(text.size(), static_cast<size_t>(capacity - 1));
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

// A response as kept between two awaits (what did not fit the caller's buffers yet).
struct Pending {
    uint64_t id;
    std::vector<int32_t> tokens;
    bool final;
    int32_t finish, error;
    std::string message;
};

struct PendingEvent {
    int32_t kind;
    uint64_t hash, parent;
    bool has_parent;
    std::vector<int32_t> tokens;
    int32_t level;
};

int32_t finish_code(tle::FinishReason reason) {
    // by value: releases add kTIMED_OUT (4) and kCANCELLED (5) after kLENGTH (3)
    switch (static_cast<int>(reason)) {
        case 1: return KVFN_TRTLLM_FINISH_END_ID;
        case 2: return KVFN_TRTLLM_FINISH_STOP_WORDS;
        case 3: return KVFN_TRTLLM_FINISH_LENGTH;
        case 4: return KVFN_TRTLLM_FINISH_TIMED_OUT;
        case 5: return KVFN_TRTLLM_FINISH_CANCELLED;
        default: return KVFN_TRTLLM_FINISH_NONE;
    }
}

// tokens_per_block from the engine's config.json (build_config.plugin_config.tokens_per_block), or -1.
int32_t read_tokens_per_block(std::string const& dir) {
    std::ifstream in(dir + "/config.json");
    if (!in) return -1;
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    size_t at = s.find("\"tokens_per_block\"");
    if (at == std::string::npos) return -1;
    at = s.find(':', at);
    if (at == std::string::npos) return -1;
    try {
        return static_cast<int32_t>(std::stol(s.substr(at + 1)));
    } catch (...) {
        return -1;
    }
}

} // namespace

struct kvfn_trtllm {
    std::unique_ptr<tle::Executor> executor;
    std::shared_ptr<tle::KVCacheEventManager> events;
    int32_t tokens_per_block = 0;
    std::deque<Pending> pending;          // poller thread only
    std::deque<PendingEvent> pending_events;
    kvfn_trtllm_stats last{};
};

extern "C" {

int32_t kvfn_trtllm_create(const kvfn_trtllm_config* c, kvfn_trtllm** out, char* message, int32_t capacity) {
    if (c == nullptr || out == nullptr || c->engine_dir == nullptr) {
        put_message(message, capacity, "config, out and engine_dir are required");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    try {
        std::string dir(c->engine_dir);
        int32_t tpb = read_tokens_per_block(dir);
        if (tpb <= 0) {
            put_message(message, capacity, dir + "/config.json has no tokens_per_block (is it a TensorRT-LLM engine directory?)");
            return KVFN_TRTLLM_E_ARGUMENT;
        }
        tle::CapacitySchedulerPolicy policy;
        switch (c->scheduler_policy) {
            case KVFN_TRTLLM_SCHED_MAX_UTILIZATION: policy = tle::CapacitySchedulerPolicy::kMAX_UTILIZATION; break;
            case KVFN_TRTLLM_SCHED_GUARANTEED_NO_EVICT: policy = tle::CapacitySchedulerPolicy::kGUARANTEED_NO_EVICT; break;
            default:
                put_message(message, capacity, "scheduler policy " + std::to_string(c->scheduler_policy)
                        + " is not supported by this build (use max-utilization or guaranteed-no-evict)");
                return KVFN_TRTLLM_E_UNSUPPORTED;
        }
        tle::KvCacheConfig kv;
        kv.setEnableBlockReuse(c->enable_block_reuse != 0);
        if (c->kv_max_tokens > 0) kv.setMaxTokens(c->kv_max_tokens);
        if (c->free_gpu_memory_fraction > 0) kv.setFreeGpuMemoryFraction(c->free_gpu_memory_fraction);
        if (c->host_cache_bytes > 0) kv.setHostCacheSize(static_cast<size_t>(c->host_cache_bytes));
        kv.setOnboardBlocks(c->onboard_blocks != 0);
        if (c->event_buffer_max_size > 0) kv.setEventBufferMaxSize(static_cast<size_t>(c->event_buffer_max_size));

        tle::ExecutorConfig config(1, tle::SchedulerConfig(policy), kv);
        if (c->max_batch_size > 0) config.setMaxBatchSize(c->max_batch_size);
        if (c->max_num_tokens > 0) config.setMaxNumTokens(c->max_num_tokens);
        if (c->max_queue_size > 0) config.setMaxQueueSize(c->max_queue_size);
        config.setIterStatsMaxIterations(c->iter_stats_max_iterations > 0 ? c->iter_stats_max_iterations : 16);

        auto h = std::make_unique<kvfn_trtllm>();
        h->executor = std::make_unique<tle::Executor>(dir, tle::ModelType::kDECODER_ONLY, config);
        h->tokens_per_block = tpb;
        auto manager = h->executor->getKVCacheEventManager();
        if (manager.has_value()) h->events = *manager;
        *out = h.release();
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        put_message(message, capacity, e.what());
        return KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, capacity, "unknown C++ exception while creating the executor");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

void kvfn_trtllm_destroy(kvfn_trtllm* h) {
    if (h == nullptr) return;
    try {
        if (h->executor) h->executor->shutdown();
    } catch (...) {
        // shutting down: nothing left to report to
    }
    delete h;
}

int32_t kvfn_trtllm_tokens_per_block(kvfn_trtllm* h) {
    return h == nullptr ? 0 : h->tokens_per_block;
}

int32_t kvfn_trtllm_enqueue(kvfn_trtllm* h, const kvfn_trtllm_request* q, uint64_t* id, char* message, int32_t capacity) {
    if (h == nullptr || q == nullptr || id == nullptr || q->tokens == nullptr || q->token_count < 1 || q->max_new_tokens < 1) {
        put_message(message, capacity, "a request needs a handle, prompt tokens and max_new_tokens >= 1");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
#ifndef KVFN_TRTLLM_CACHE_SALT
    if (q->cache_salt != 0) {
        put_message(message, capacity, "this TensorRT-LLM build cannot isolate a cache salt (no Request::setCacheSaltID in the "
                "release it was built against); send the request without cache_salt");
        return KVFN_TRTLLM_E_UNSUPPORTED;
    }
#endif
    try {
        tle::SamplingConfig sampling(1);
        if (q->temperature > 0) {
            sampling.setTemperature(q->temperature);
            if (q->top_k > 0) sampling.setTopK(q->top_k);
            if (q->top_p < 1) sampling.setTopP(q->top_p);
            if (q->min_p > 0) sampling.setMinP(q->min_p);
            sampling.setSeed(q->seed);
        } else {
            sampling.setTopK(1); // greedy
        }
        tle::OutputConfig output;
        output.excludeInputFromOutput = true;
        tle::Request request(tle::VecTokens(q->tokens, q->tokens + q->token_count), q->max_new_tokens, q->streaming != 0,
                             sampling, output);
        if (q->end_id >= 0) request.setEndId(q->end_id);
        if (q->retention_priority >= 0) {
            std::vector<tle::KvCacheRetentionConfig::TokenRangeRetentionConfig> ranges{
                    tle::KvCacheRetentionConfig::TokenRangeRetentionConfig(0, q->token_count, q->retention_priority)};
            request.setKvCacheRetentionConfig(tle::KvCacheRetentionConfig(ranges));
        }
#ifdef KVFN_TRTLLM_CACHE_SALT
        if (q->cache_salt != 0) request.setCacheSaltID(q->cache_salt);
#endif
        *id = h->executor->enqueueRequest(request);
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        std::string what = e.what();
        put_message(message, capacity, what);
        // the executor throws when maxQueueSize is reached ("Maximum queue size of N has been reached")
        bool full = what.find("queue size") != std::string::npos || what.find("queue is full") != std::string::npos;
        return full ? KVFN_TRTLLM_E_QUEUE_FULL : KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, capacity, "unknown C++ exception while enqueueing");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

int32_t kvfn_trtllm_cancel(kvfn_trtllm* h, uint64_t id, char* message, int32_t capacity) {
    if (h == nullptr) {
        put_message(message, capacity, "no handle");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    try {
        h->executor->cancelRequest(id);
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        put_message(message, capacity, e.what());
        return KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, capacity, "unknown C++ exception while cancelling");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

int32_t kvfn_trtllm_await(kvfn_trtllm* h, int32_t timeout_ms, kvfn_trtllm_response* out, int32_t max_out, int32_t* tokens,
                          int32_t token_capacity, char* messages, int32_t message_capacity, int32_t* count, char* message,
                          int32_t error_capacity) {
    if (h == nullptr || out == nullptr || tokens == nullptr || count == nullptr || max_out < 1 || token_capacity < 1) {
        put_message(message, error_capacity, "await needs a handle and non-empty buffers");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    *count = 0;
    try {
        if (h->pending.empty()) {
            auto responses = h->executor->awaitResponses(std::chrono::milliseconds(std::max(0, timeout_ms)));
            for (auto const& r : responses) {
                if (r.hasError()) {
                    h->pending.push_back({r.getRequestId(), {}, true, KVFN_TRTLLM_FINISH_NONE, KVFN_TRTLLM_E_NATIVE, r.getErrorMsg()});
                    continue;
                }
                auto const& result = r.getResult();
                std::vector<int32_t> t;
                if (!result.outputTokenIds.empty()) t.assign(result.outputTokenIds[0].begin(), result.outputTokenIds[0].end());
                int32_t finish = result.finishReasons.empty() ? KVFN_TRTLLM_FINISH_NONE : finish_code(result.finishReasons[0]);
                h->pending.push_back({r.getRequestId(), std::move(t), result.isFinal, finish, 0, {}});
            }
        }
        int32_t n = 0, used = 0, text = 0;
        while (n < max_out && !h->pending.empty() && used < token_capacity) {
            Pending& p = h->pending.front();
            int32_t take = std::min(static_cast<int32_t>(p.tokens.size()), token_capacity - used);
            bool last = take == static_cast<int32_t>(p.tokens.size());
            int32_t mlen = last ? std::min(static_cast<int32_t>(p.message.size()), std::max(0, message_capacity - text)) : 0;
            kvfn_trtllm_response& o = out[n++];
            o.request_id = p.id;
            o.token_offset = used;
            o.token_count = take;
            std::copy(p.tokens.begin(), p.tokens.begin() + take, tokens + used);
            used += take;
            o.is_final = last && p.final ? 1 : 0;
            o.finish_reason = last ? p.finish : KVFN_TRTLLM_FINISH_NONE;
            o.error = last ? p.error : 0;
            o.message_offset = text;
            o.message_length = mlen;
            if (mlen > 0 && messages != nullptr) std::memcpy(messages + text, p.message.data(), static_cast<size_t>(mlen));
            text += mlen;
            o.reused_tokens = -1; // the Executor reports reuse per iteration (stats), not per request
            if (last) h->pending.pop_front();
            else p.tokens.erase(p.tokens.begin(), p.tokens.begin() + take);
        }
        *count = n;
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        put_message(message, error_capacity, e.what());
        return KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, error_capacity, "unknown C++ exception while awaiting responses");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

int32_t kvfn_trtllm_kv_events(kvfn_trtllm* h, int32_t timeout_ms, kvfn_trtllm_kv_event* out, int32_t max_out, int32_t* tokens,
                              int32_t token_capacity, int32_t* count, char* message, int32_t capacity) {
    if (h == nullptr || out == nullptr || tokens == nullptr || count == nullptr || max_out < 1) {
        put_message(message, capacity, "kv_events needs a handle and non-empty buffers");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    *count = 0;
    if (!h->events) return KVFN_TRTLLM_OK; // block reuse or the event buffer is off: there are none
    try {
        if (h->pending_events.empty()) {
            auto events = h->events->getLatestEvents(std::chrono::milliseconds(std::max(0, timeout_ms)));
            for (auto const& e : events) {
                if (auto const* stored = std::get_if<tle::KVCacheStoredData>(&e.data)) {
                    bool has_parent = stored->parentHash.has_value();
                    uint64_t parent = has_parent ? *stored->parentHash : 0;
                    for (auto const& b : stored->blocks) { // block i's parent is block i-1
                        std::vector<int32_t> t;
                        t.reserve(b.tokens.size());
                        for (auto const& u : b.tokens) t.push_back(u.tokenId);
                        h->pending_events.push_back({KVFN_TRTLLM_KV_STORED, b.blockHash, parent, has_parent, std::move(t), b.cacheLevel});
                        parent = b.blockHash;
                        has_parent = true;
                    }
                } else if (auto const* removed = std::get_if<tle::KVCacheRemovedData>(&e.data)) {
                    for (auto hash : removed->blockHashes) {
                        h->pending_events.push_back({KVFN_TRTLLM_KV_REMOVED, hash, 0, false, {}, 0});
                    }
                }
            }
        }
        int32_t n = 0, used = 0;
        while (n < max_out && !h->pending_events.empty()) {
            PendingEvent& e = h->pending_events.front();
            int32_t need = static_cast<int32_t>(e.tokens.size());
            if (need > token_capacity) { // cannot ever fit: dropped (kvfn's index misses this block, never gets it wrong)
                h->pending_events.pop_front();
                continue;
            }
            if (used + need > token_capacity) break;
            kvfn_trtllm_kv_event& o = out[n++];
            o.kind = e.kind;
            o.block_hash = e.hash;
            o.parent_hash = e.parent;
            o.has_parent = e.has_parent ? 1 : 0;
            o.token_offset = used;
            o.token_count = need;
            o.cache_level = e.level;
            std::copy(e.tokens.begin(), e.tokens.end(), tokens + used);
            used += need;
            h->pending_events.pop_front();
        }
        *count = n;
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        put_message(message, capacity, e.what());
        return KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, capacity, "unknown C++ exception while reading KV events");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

int32_t kvfn_trtllm_stats_get(kvfn_trtllm* h, kvfn_trtllm_stats* s, char* message, int32_t capacity) {
    if (h == nullptr || s == nullptr) {
        put_message(message, capacity, "stats needs a handle and a struct");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    try {
        for (auto const& it : h->executor->getLatestIterationStats()) {
            h->last.iterations = static_cast<int64_t>(it.iter) + 1;
            h->last.queued_requests = it.numQueuedRequests;
            h->last.active_requests = it.numActiveRequests;
            if (it.kvCacheStats.has_value()) {
                auto const& kv = *it.kvCacheStats;
                h->last.tokens_per_block = kv.tokensPerBlock;
                h->last.max_blocks = kv.maxNumBlocks;
                h->last.free_blocks = kv.freeNumBlocks;
                h->last.used_blocks = kv.usedNumBlocks;
                h->last.reused_blocks = kv.reusedBlocks; // the block manager counts since start
            }
        }
        if (h->last.tokens_per_block == 0) h->last.tokens_per_block = h->tokens_per_block;
        *s = h->last;
        return KVFN_TRTLLM_OK;
    } catch (std::exception const& e) {
        put_message(message, capacity, e.what());
        return KVFN_TRTLLM_E_NATIVE;
    } catch (...) {
        put_message(message, capacity, "unknown C++ exception while reading stats");
        return KVFN_TRTLLM_E_NATIVE;
    }
}

} // extern "C"
