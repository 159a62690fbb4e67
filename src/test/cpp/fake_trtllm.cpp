// A deterministic test double of TensorRT-LLM behind kvfn's C ABI (src/main/cpp/kvfn_trtllm.h), so the default build
// exercises the JavaCPP-generated JNI and TrtllmEngine without a GPU. Not a model: the next token is a pure function of
// the context. Options come in the engine directory string, "fake:key=value,...":
//   vocab_lo, vocab_hi  generated tokens lie in [lo, hi)            (default 3, 259)
//   block               tokens per KV block                           (default 16)
//   blocks              blocks the reuse tree holds before evicting    (default 4096)
//   error_token         a prompt holding this token fails (an error response, like a failed TensorRT-LLM request)
//   end_after           after this many generated tokens the next is end_id (when the request has one)
//   backlog             responses not yet awaited at most; the worker waits beyond (back-pressure) (default 64)
//   delay_us            pause per iteration                            (default 0)
//   hold_token          a prompt holding this token is admitted but generates nothing until cancelled or released:
//                       a request that occupies its batch slot for as long as a test needs
//   release_token       enqueueing a prompt holding this token releases every held request of this executor (before the
//                       enqueue is checked against the queue, so it works on a full queue too)
// Test hooks (not in the ABI, looked up by symbol from the test): live handles, live requests, requests enqueued
// with a retention priority.
#include "kvfn_trtllm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::atomic<int64_t> g_live_handles{0};
std::atomic<int64_t> g_live_requests{0};
std::atomic<int64_t> g_prioritized_requests{0};

void put_message(char* out, int32_t capacity, std::string const& text) {
    if (out == nullptr || capacity <= 0) return;
    size_t n = std::min(text.size(), static_cast<size_t>(capacity - 1));
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

uint64_t fnv(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

struct Options {
    int32_t vocab_lo = 3, vocab_hi = 259, block = 16, error_token = -1, end_after = -1, hold_token = -1, release_token = -1;
    int64_t blocks = 4096;
    size_t backlog = 64;
    int64_t delay_us = 0;
};

struct Request {
    uint64_t id;
    std::vector<int32_t> tokens; // prompt, then generated
    size_t prompt;
    int32_t max_new, end_id;
    uint64_t salt;
    bool streaming;
    bool cancelled = false;
    bool held = false;
    int32_t generated = 0;
    int32_t reused = 0;
    size_t stored_blocks = 0;    // full blocks of this request already offered to the reuse tree
    uint64_t last_hash = 0;      // hash of its last stored block
    Request() { g_live_requests++; }
    ~Request() { g_live_requests--; }
    Request(Request const&) = delete;
    Request& operator=(Request const&) = delete;
};

struct Response {
    uint64_t id;
    std::vector<int32_t> tokens;
    bool final;
    int32_t finish, error, reused;
    std::string message;
};

struct Event {
    int32_t kind;
    uint64_t hash, parent;
    bool has_parent;
    std::vector<int32_t> tokens;
};

struct Block {
    uint64_t parent;
    bool has_parent;
    int children = 0;
    std::list<uint64_t>::iterator lru;
};

} // namespace

struct kvfn_trtllm {
    Options opt;
    int32_t max_batch, max_queue, event_cap;
    std::mutex mu;
    std::condition_variable work, drained, ready, events_ready;
    std::deque<std::unique_ptr<Request>> waiting;
    std::vector<std::unique_ptr<Request>> active;
    std::deque<Response> responses;
    std::deque<Event> events;
    std::unordered_map<uint64_t, Block> tree; // the reuse tree: block hash -> node
    std::list<uint64_t> lru;                  // leaves and inner nodes, least recently used first
    uint64_t next_id = 1;
    int64_t iterations = 0, reused_blocks = 0, missed_blocks = 0;
    bool stopping = false;
    bool holds_released = false;
    std::thread worker;

    int32_t next_token(Request const& r) const {
        uint64_t h = 1469598103934665603ULL;
        size_t n = r.tokens.size();
        for (size_t i = n >= 4 ? n - 4 : 0; i < n; i++) h = fnv(h, static_cast<uint64_t>(r.tokens[i]));
        h = fnv(h, n);
        if (opt.end_after >= 0 && r.end_id >= 0 && r.generated >= opt.end_after) return r.end_id;
        return opt.vocab_lo + static_cast<int32_t>(h % static_cast<uint64_t>(opt.vocab_hi - opt.vocab_lo));
    }

    uint64_t block_hash(bool has_parent, uint64_t parent, uint64_t salt, int32_t const* t) const {
        uint64_t h = fnv(1469598103934665603ULL, has_parent ? parent : 0x5eed);
        if (!has_parent) h = fnv(h, salt);
        for (int32_t i = 0; i < opt.block; i++) h = fnv(h, static_cast<uint64_t>(t[i]));
        return h;
    }

    void push_event(Event e) {
        if (event_cap <= 0) return;
        if (static_cast<int32_t>(events.size()) >= event_cap) events.pop_front(); // like TensorRT-LLM: oldest dropped
        events.push_back(std::move(e));
        events_ready.notify_all();
    }

    void touch(uint64_t h) {
        auto& b = tree[h];
        lru.erase(b.lru);
        b.lru = lru.insert(lru.end(), h);
    }

    // Offers the request's newly full blocks to the reuse tree (a STORED event for each new one).
    void store_full_blocks(Request& r) {
        size_t full = r.tokens.size() / opt.block;
        while (r.stored_blocks < full) {
            bool has_parent = r.stored_blocks > 0;
            uint64_t h = block_hash(has_parent, r.last_hash, r.salt, r.tokens.data() + r.stored_blocks * opt.block);
            if (tree.count(h) == 0) {
                Block b{r.last_hash, has_parent, 0, {}};
                b.lru = lru.insert(lru.end(), h);
                tree.emplace(h, b);
                if (has_parent) tree[r.last_hash].children++;
                push_event({KVFN_TRTLLM_KV_STORED, h, r.last_hash, has_parent,
                            std::vector<int32_t>(r.tokens.begin() + r.stored_blocks * opt.block,
                                                 r.tokens.begin() + (r.stored_blocks + 1) * opt.block)});
                evict();
            } else {
                touch(h);
            }
            r.last_hash = h;
            r.stored_blocks++;
        }
    }

    // Drops least recently used leaves beyond the tree's capacity (a REMOVED event each).
    void evict() {
        while (static_cast<int64_t>(tree.size()) > opt.blocks) {
            auto it = std::find_if(lru.begin(), lru.end(), [&](uint64_t h) { return tree[h].children == 0; });
            if (it == lru.end()) return;
            uint64_t h = *it;
            Block b = tree[h];
            lru.erase(it);
            tree.erase(h);
            if (b.has_parent && tree.count(b.parent)) tree[b.parent].children--;
            push_event({KVFN_TRTLLM_KV_REMOVED, h, 0, false, {}});
        }
    }

    // At admission: how many leading prompt blocks the tree already holds (never the block holding the last prompt token).
    void admit(Request& r) {
        size_t usable = (r.prompt - 1) / opt.block;
        uint64_t parent = 0;
        size_t i = 0;
        for (; i < usable; i++) {
            uint64_t h = block_hash(i > 0, parent, r.salt, r.tokens.data() + i * opt.block);
            if (tree.count(h) == 0) break;
            touch(h);
            parent = h;
        }
        r.reused = static_cast<int32_t>(i * opt.block);
        reused_blocks += static_cast<int64_t>(i);
        missed_blocks += static_cast<int64_t>(r.prompt / opt.block - i);
    }

    void finish(Request& r, int32_t reason, std::vector<int32_t> tail) {
        responses.push_back({r.id, std::move(tail), true, reason, 0, r.reused, {}});
    }

    void run() {
        std::unique_lock<std::mutex> lock(mu);
        while (true) {
            work.wait(lock, [&] { return stopping || !waiting.empty() || !active.empty(); });
            if (stopping) return;
            drained.wait(lock, [&] { return stopping || responses.size() < opt.backlog; });
            if (stopping) return;
            while (static_cast<int32_t>(active.size()) < max_batch && !waiting.empty()) {
                std::unique_ptr<Request> r = std::move(waiting.front());
                waiting.pop_front();
                bool poisoned = opt.error_token >= 0
                        && std::find(r->tokens.begin(), r->tokens.begin() + r->prompt, opt.error_token) != r->tokens.begin() + r->prompt;
                if (poisoned) {
                    responses.push_back({r->id, {}, true, KVFN_TRTLLM_FINISH_NONE, KVFN_TRTLLM_E_NATIVE, -1,
                                         "fake executor: prompt token " + std::to_string(opt.error_token) + " is poisoned"});
                    continue; // r freed here
                }
                if (r->cancelled) {
                    finish(*r, KVFN_TRTLLM_FINISH_CANCELLED, {});
                    continue;
                }
                admit(*r);
                r->held = opt.hold_token >= 0
                        && std::find(r->tokens.begin(), r->tokens.begin() + r->prompt, opt.hold_token) != r->tokens.begin() + r->prompt;
                active.push_back(std::move(r));
            }
            iterations++;
            bool progressed = false;
            for (auto it = active.begin(); it != active.end();) {
                Request& r = **it;
                if (r.cancelled) {
                    finish(r, KVFN_TRTLLM_FINISH_CANCELLED, {});
                    it = active.erase(it);
                    progressed = true;
                    continue;
                }
                if (r.held && !holds_released) {
                    ++it;
                    continue;
                }
                progressed = true;
                int32_t t = next_token(r);
                r.tokens.push_back(t);
                r.generated++;
                store_full_blocks(r);
                bool end = t == r.end_id, length = r.generated >= r.max_new;
                if (end || length) {
                    // a non-streaming request gets all its tokens once, a streaming one the last token
                    std::vector<int32_t> out = r.streaming ? std::vector<int32_t>{t}
                            : std::vector<int32_t>(r.tokens.begin() + r.prompt, r.tokens.end());
                    finish(r, end ? KVFN_TRTLLM_FINISH_END_ID : KVFN_TRTLLM_FINISH_LENGTH, std::move(out));
                    it = active.erase(it);
                    continue;
                }
                if (r.streaming) responses.push_back({r.id, {t}, false, KVFN_TRTLLM_FINISH_NONE, 0, r.reused, {}});
                ++it;
            }
            ready.notify_all();
            if (!progressed) work.wait_for(lock, std::chrono::milliseconds(1)); // only held requests: wait for a cancel or a release
            if (opt.delay_us > 0) {
                lock.unlock();
                std::this_thread::sleep_for(std::chrono::microseconds(opt.delay_us));
                lock.lock();
            }
        }
    }
};

namespace {

bool parse_options(std::string const& dir, Options& o, std::string& error) {
    if (dir.rfind("fake:", 0) != 0) {
        error = "fake executor: engine directory must be \"fake:key=value,...\", got \"" + dir + "\"";
        return false;
    }
    std::string rest = dir.substr(5);
    size_t at = 0;
    while (at < rest.size()) {
        size_t comma = rest.find(',', at);
        std::string item = rest.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        at = comma == std::string::npos ? rest.size() : comma + 1;
        if (item.empty()) continue;
        size_t eq = item.find('=');
        if (eq == std::string::npos) {
            error = "fake executor: option \"" + item + "\" has no value";
            return false;
        }
        std::string key = item.substr(0, eq);
        long long v;
        try {
            v = std::stoll(item.substr(eq + 1));
        } catch (...) {
            error = "fake executor: option " + key + " is not a number";
            return false;
        }
        if (key == "vocab_lo") o.vocab_lo = static_cast<int32_t>(v);
        else if (key == "vocab_hi") o.vocab_hi = static_cast<int32_t>(v);
        else if (key == "block") o.block = static_cast<int32_t>(v);
        else if (key == "blocks") o.blocks = v;
        else if (key == "error_token") o.error_token = static_cast<int32_t>(v);
        else if (key == "end_after") o.end_after = static_cast<int32_t>(v);
        else if (key == "backlog") o.backlog = static_cast<size_t>(std::max(1LL, v));
        else if (key == "delay_us") o.delay_us = v;
        else if (key == "hold_token") o.hold_token = static_cast<int32_t>(v);
        else if (key == "release_token") o.release_token = static_cast<int32_t>(v);
        else {
            error = "fake executor: unknown option " + key;
            return false;
        }
    }
    if (o.vocab_hi <= o.vocab_lo || o.block < 1) {
        error = "fake executor: need vocab_lo < vocab_hi and block >= 1";
        return false;
    }
    return true;
}

} // namespace

extern "C" {

int32_t kvfn_trtllm_create(const kvfn_trtllm_config* config, kvfn_trtllm** out, char* message, int32_t capacity) {
    if (config == nullptr || out == nullptr || config->engine_dir == nullptr) {
        put_message(message, capacity, "config, out and engine_dir are required");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    Options o;
    std::string error;
    if (!parse_options(config->engine_dir, o, error)) {
        put_message(message, capacity, error);
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    auto* h = new (std::nothrow) kvfn_trtllm();
    if (h == nullptr) {
        put_message(message, capacity, "out of memory");
        return KVFN_TRTLLM_E_NATIVE;
    }
    h->opt = o;
    h->max_batch = config->max_batch_size > 0 ? config->max_batch_size : 8;
    h->max_queue = config->max_queue_size;
    h->event_cap = config->event_buffer_max_size;
    if (config->enable_block_reuse == 0) h->opt.blocks = 0;
    h->worker = std::thread([h] { h->run(); });
    g_live_handles++;
    *out = h;
    return KVFN_TRTLLM_OK;
}

void kvfn_trtllm_destroy(kvfn_trtllm* h) {
    if (h == nullptr) return;
    {
        std::lock_guard<std::mutex> lock(h->mu);
        h->stopping = true;
    }
    h->work.notify_all();
    h->drained.notify_all();
    h->ready.notify_all();
    h->events_ready.notify_all();
    h->worker.join();
    delete h;
    g_live_handles--;
}

int32_t kvfn_trtllm_tokens_per_block(kvfn_trtllm* h) {
    return h == nullptr ? 0 : h->opt.block;
}

int32_t kvfn_trtllm_enqueue(kvfn_trtllm* h, const kvfn_trtllm_request* q, uint64_t* id, char* message, int32_t capacity) {
    if (h == nullptr || q == nullptr || id == nullptr || q->tokens == nullptr || q->token_count < 1 || q->max_new_tokens < 1) {
        put_message(message, capacity, "a request needs a handle, prompt tokens and max_new_tokens >= 1");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    std::lock_guard<std::mutex> lock(h->mu);
    if (h->stopping) {
        put_message(message, capacity, "fake executor is shut down");
        return KVFN_TRTLLM_E_CLOSED;
    }
    if (h->opt.release_token >= 0 && std::find(q->tokens, q->tokens + q->token_count, h->opt.release_token) != q->tokens + q->token_count) {
        h->holds_released = true;
        h->work.notify_all();
    }
    if (h->max_queue > 0 && static_cast<int32_t>(h->waiting.size()) >= h->max_queue) {
        put_message(message, capacity, "fake executor: maximum queue size of " + std::to_string(h->max_queue) + " has been reached");
        return KVFN_TRTLLM_E_QUEUE_FULL;
    }
    auto r = std::make_unique<Request>();
    r->id = h->next_id++;
    r->tokens.assign(q->tokens, q->tokens + q->token_count);
    r->prompt = static_cast<size_t>(q->token_count);
    r->max_new = q->max_new_tokens;
    r->end_id = q->end_id;
    r->salt = q->cache_salt;
    r->streaming = q->streaming != 0;
    if (q->retention_priority >= 0) g_prioritized_requests++;
    *id = r->id;
    h->waiting.push_back(std::move(r));
    h->work.notify_all();
    return KVFN_TRTLLM_OK;
}

int32_t kvfn_trtllm_cancel(kvfn_trtllm* h, uint64_t id, char* message, int32_t capacity) {
    if (h == nullptr) {
        put_message(message, capacity, "no handle");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    std::lock_guard<std::mutex> lock(h->mu);
    for (auto& r : h->waiting) if (r->id == id) r->cancelled = true;
    for (auto& r : h->active) if (r->id == id) r->cancelled = true;
    h->work.notify_all();
    return KVFN_TRTLLM_OK; // unknown ids (already final) are ignored, as the executor does
}

int32_t kvfn_trtllm_await(kvfn_trtllm* h, int32_t timeout_ms, kvfn_trtllm_response* out, int32_t max_out, int32_t* tokens,
                          int32_t token_capacity, char* messages, int32_t message_capacity, int32_t* count, char* message,
                          int32_t error_capacity) {
    if (h == nullptr || out == nullptr || tokens == nullptr || count == nullptr || max_out < 1 || token_capacity < 1) {
        put_message(message, error_capacity, "await needs a handle and non-empty buffers");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    *count = 0;
    std::unique_lock<std::mutex> lock(h->mu);
    h->ready.wait_for(lock, std::chrono::milliseconds(std::max(0, timeout_ms)),
                      [&] { return h->stopping || !h->responses.empty(); });
    int32_t n = 0, used = 0, text = 0;
    while (n < max_out && !h->responses.empty() && used < token_capacity) {
        Response& r = h->responses.front();
        int32_t take = std::min(static_cast<int32_t>(r.tokens.size()), token_capacity - used);
        bool last = take == static_cast<int32_t>(r.tokens.size());
        int32_t mlen = last ? std::min(static_cast<int32_t>(r.message.size()), std::max(0, message_capacity - text)) : 0;
        kvfn_trtllm_response& o = out[n++];
        o.request_id = r.id;
        o.token_offset = used;
        o.token_count = take;
        std::copy(r.tokens.begin(), r.tokens.begin() + take, tokens + used);
        used += take;
        o.is_final = last && r.final ? 1 : 0;
        o.finish_reason = last ? r.finish : KVFN_TRTLLM_FINISH_NONE;
        o.error = last ? r.error : 0;
        o.message_offset = text;
        o.message_length = mlen;
        if (mlen > 0 && messages != nullptr) std::memcpy(messages + text, r.message.data(), static_cast<size_t>(mlen));
        text += mlen;
        o.reused_tokens = r.reused;
        if (last) h->responses.pop_front();
        else r.tokens.erase(r.tokens.begin(), r.tokens.begin() + take);
    }
    *count = n;
    h->drained.notify_all();
    return KVFN_TRTLLM_OK;
}

int32_t kvfn_trtllm_kv_events(kvfn_trtllm* h, int32_t timeout_ms, kvfn_trtllm_kv_event* out, int32_t max_out, int32_t* tokens,
                              int32_t token_capacity, int32_t* count, char* message, int32_t capacity) {
    if (h == nullptr || out == nullptr || tokens == nullptr || count == nullptr || max_out < 1) {
        put_message(message, capacity, "kv_events needs a handle and non-empty buffers");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    *count = 0;
    std::unique_lock<std::mutex> lock(h->mu);
    h->events_ready.wait_for(lock, std::chrono::milliseconds(std::max(0, timeout_ms)),
                             [&] { return h->stopping || !h->events.empty(); });
    int32_t n = 0, used = 0;
    while (n < max_out && !h->events.empty()) {
        Event& e = h->events.front();
        int32_t need = static_cast<int32_t>(e.tokens.size());
        if (used + need > token_capacity) break; // events are never split: the rest waits for the next call
        kvfn_trtllm_kv_event& o = out[n++];
        o.kind = e.kind;
        o.block_hash = e.hash;
        o.parent_hash = e.parent;
        o.has_parent = e.has_parent ? 1 : 0;
        o.token_offset = used;
        o.token_count = need;
        o.cache_level = 0;
        std::copy(e.tokens.begin(), e.tokens.end(), tokens + used);
        used += need;
        h->events.pop_front();
    }
    *count = n;
    return KVFN_TRTLLM_OK;
}

int32_t kvfn_trtllm_stats_get(kvfn_trtllm* h, kvfn_trtllm_stats* s, char* message, int32_t capacity) {
    if (h == nullptr || s == nullptr) {
        put_message(message, capacity, "stats needs a handle and a struct");
        return KVFN_TRTLLM_E_ARGUMENT;
    }
    std::lock_guard<std::mutex> lock(h->mu);
    s->iterations = h->iterations;
    s->queued_requests = static_cast<int32_t>(h->waiting.size());
    s->active_requests = static_cast<int32_t>(h->active.size());
    s->tokens_per_block = h->opt.block;
    s->max_blocks = h->opt.blocks;
    s->used_blocks = static_cast<int64_t>(h->tree.size());
    s->free_blocks = h->opt.blocks - s->used_blocks;
    s->reused_blocks = h->reused_blocks;
    s->missed_blocks = h->missed_blocks;
    return KVFN_TRTLLM_OK;
}

// ---- test hooks ----
int64_t kvfn_fake_live_handles() { return g_live_handles.load(); }
int64_t kvfn_fake_live_requests() { return g_live_requests.load(); }
int64_t kvfn_fake_prioritized_requests() { return g_prioritized_requests.load(); }

} // extern "C"
