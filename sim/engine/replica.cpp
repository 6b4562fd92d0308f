#include "sim/engine/replica.hpp"

#include <algorithm>
#include <stdexcept>

namespace servesim {

Replica::Replica(const ReplicaEnv& env, std::uint32_t index, EngineLimits limits,
                 std::int64_t kv_blocks, int block_size, StepCostModel& cost,
                 std::unique_ptr<BatchScheduler> scheduler, const ExecutorFactory& make_executor)
    : env_(env),
      index_(index),
      limits_(limits),
      kv_(kv_blocks, block_size),
      pool_(block_size, limits.attention_window),
      scheduler_(std::move(scheduler)),
      executor_(make_executor ? make_executor(static_cast<BatchSink&>(*this))
                              : std::make_unique<StepExecutor>(*env.loop, cost,
                                                               static_cast<BatchSink&>(*this))),
      plan_handler_(env.loop->handler<&Replica::on_plan>(this)) {}

void Replica::enqueue(std::uint32_t r, SimTime now) {
  const Touch touch(*this);
  Request& req = this->req(r);
  req.replica = static_cast<std::int32_t>(index_);
  waiting_.push_back(r);
  ++outstanding_;
  outstanding_tokens_ += std::int64_t{req.prompt_tokens} + req.output_tokens;
  if (!busy()) plan_at(now);
}

void Replica::release_handoff(std::uint32_t r, SimTime now) {
  const Touch touch(*this);
  const auto it = held_.find(r);
  if (it == held_.end()) throw std::logic_error("released KV that this replica does not hold");
  kv_.release(it->second.own_blocks);
  if (it->second.prefix >= 0) kv_.prefixes().unref(it->second.prefix);
  held_blocks_ -= it->second.own_blocks;
  held_.erase(it);
  if (!busy() && (!waiting_.empty() || !partial_.empty())) plan_at(now);
}

std::int64_t Replica::reserve_incoming(std::uint32_t r) {
  const Touch touch(*this);
  Request& req = this->req(r);
  if (running() + 1 > limits_.max_num_seqs) return -1;
  // Whole blocks of a prefix this replica has cached need not move.
  std::int64_t shared = 0;
  if (limits_.prefix_caching && req.prefix_id >= 0) {
    shared = std::min<std::int64_t>(kv_.prefixes().lookup(req.prefix_id, tick_),
                                    req.prefix_tokens / kv_.block_size());
  }
  const std::int64_t own = kv_.blocks_for(req.prompt_tokens) - shared;
  // Keep the watermark free for the sequences already running, as admissions do. Using the
  // cached prefix makes its blocks unevictable, so the room is counted after claiming it.
  const std::int64_t reserve = running() > 0 ? limits_.watermark_blocks : 0;
  if (shared > 0) kv_.prefixes().ref(req.prefix_id);
  if (!kv_.can_allocate(own, reserve)) {
    if (shared > 0) kv_.prefixes().unref(req.prefix_id);
    return -1;
  }
  kv_.allocate(own);
  // Its prefix blocks here are its own only once it arrives: until then the request may still
  // be prefilling on its prefill instance, which keeps its own count of them.
  incoming_shared_[r] = static_cast<std::int32_t>(shared);
  req.replica = static_cast<std::int32_t>(index_);
  ++incoming_;
  ++outstanding_;
  outstanding_tokens_ += req.output_tokens - 1;
  return req.prompt_tokens - shared * kv_.block_size();
}

std::int64_t Replica::cached_tokens(const Request& req) const {
  if (!limits_.prefix_caching || req.prefix_id < 0) return 0;
  const std::int64_t blocks = std::min<std::int64_t>(kv_.prefixes().peek(req.prefix_id),
                                                     req.prefix_tokens / kv_.block_size());
  return blocks * kv_.block_size();
}

void Replica::admit_transferred(std::uint32_t r, SimTime now) {
  const Touch touch(*this);
  Request& req = this->req(r);
  req.first_token = req.last_token = now;
  arrived_.push_back(r);
  if (!busy()) {
    join_arrived();
    plan_at(now);
  }
}

void Replica::join_arrived() {
  for (std::uint32_t r : arrived_) {
    Request& req = this->req(r);
    --incoming_;
    const auto shared = incoming_shared_.find(r);
    req.shared_blocks = shared->second;
    incoming_shared_.erase(shared);
    req.state = RequestState::kRunning;
    // It now holds the prompt's KV here: a prefix it carries becomes cached on this replica.
    offer_prefix(req, req.prompt_tokens);
    pool_.join(r, std::int64_t{req.prompt_tokens} + req.generated,
               std::int64_t{req.prompt_tokens} + req.output_tokens, req.last_token, !req.warmup);
  }
  arrived_.clear();
}

void Replica::plan_at(SimTime at) {
  if (at < plan_due_) {
    plan_due_ = at;
    env_.loop->at(at, Phase::kPlan, plan_handler_);
  }
}

void Replica::on_plan(SimTime now, std::uint32_t, std::uint32_t) {
  const Touch touch(*this);
  if (plan_due_ <= now) plan_due_ = SimTime::never();
  try_start(now);
}

ReplicaLoad Replica::load() const {
  return ReplicaLoad{outstanding_, outstanding_tokens_,
                     kv_.total() > 0 ? static_cast<double>(kv_.used()) / static_cast<double>(kv_.total()) : 0.0};
}

void Replica::admit_front(IterationPlan& plan, std::int64_t tokens, std::int64_t prior) {
  const std::uint32_t r = waiting_.front();
  waiting_.pop_front();
  Request& req = this->req(r);
  if (limits_.prefix_caching && prior == 0 && req.prefix_id >= 0) {
    // A cached prefix is reused: its blocks are shared, its tokens not computed again.
    // It shares whole blocks of the cached prefix within its own prefix (prompts shorter than
    // the prefix carry only its beginning).
    const std::int64_t blocks = std::min<std::int64_t>(
        kv_.prefixes().lookup(req.prefix_id, tick_), req.prefix_tokens / kv_.block_size());
    bool hit = false;
    if (blocks > 0) {
      // Using the prefix makes its blocks unevictable; the scheduler counted them as
      // available, so the claim stands only if the request's own blocks still fit.
      kv_.prefixes().ref(req.prefix_id);
      const std::int64_t cached = blocks * kv_.block_size();  // < prompt: prefix < prompt
      const std::int64_t rest = std::min(tokens, req.prefill_target() - cached);
      hit = kv_.can_allocate(kv_.blocks_for(cached + rest) - kv_.blocks_for(cached));
      if (hit) {
        req.shared_blocks = static_cast<std::int32_t>(blocks);
        prior = cached;
        tokens = rest;
      } else {
        kv_.prefixes().unref(req.prefix_id);
      }
    }
    if (req.prefix_lookup == 0) {
      req.prefix_lookup = hit ? 2 : 1;
      ++stats_.prefix_lookups;
      stats_.prefix_hits += hit ? 1 : 0;
    }
  }
  kv_.allocate(kv_.blocks_for(prior + tokens) - kv_.blocks_for(prior));
  if (req.first_scheduled == SimTime::never()) req.first_scheduled = started_;
  req.state = RequestState::kRunning;
  ++prefilling_;
  outstanding_tokens_ -= tokens;
  plan.prefills.push_back(PrefillChunk{r, tokens, prior});
}

void Replica::release_kv(Request& req, std::int64_t blocks) {
  kv_.release(blocks - req.shared_blocks);
  if (req.shared_blocks > 0) {
    kv_.prefixes().unref(req.prefix_id);
    req.shared_blocks = 0;
  }
}

void Replica::offer_prefix(Request& req, std::int64_t computed) {
  if (!limits_.prefix_caching || req.prefix_id < 0 || req.shared_blocks > 0) return;
  const std::int64_t blocks = req.prefix_tokens / kv_.block_size();
  if (blocks == 0 || computed < blocks * kv_.block_size()) return;
  if (kv_.prefixes().resident(req.prefix_id)) return;  // another request cached it first
  // Its blocks now belong to the cache, which it references.
  kv_.prefixes().insert(req.prefix_id, blocks, tick_);
  req.shared_blocks = static_cast<std::int32_t>(blocks);
}

void Replica::continue_partial(IterationPlan& plan, std::int64_t tokens) {
  const std::uint32_t r = partial_.front();
  partial_.pop_front();
  const std::int64_t prior = request(r).computed;
  kv_.allocate(kv_.blocks_for(prior + tokens) - kv_.blocks_for(prior));
  outstanding_tokens_ -= tokens;
  plan.prefills.push_back(PrefillChunk{r, tokens, prior});
}

void Replica::preempt_newest_partial() {
  const std::uint32_t r = partial_.back();
  partial_.pop_back();
  Request& req = this->req(r);
  release_kv(req, kv_.blocks_for(req.computed));
  outstanding_tokens_ += req.computed;
  req.computed = 0;
  ++req.preemptions;
  ++stats_.preemptions;
  --prefilling_;
  req.state = RequestState::kWaiting;
  waiting_.push_front(r);
}

bool Replica::prepare_decode_step(std::int64_t* preempted_out) {
  std::int64_t preempted = 0;
  while (!pool_.empty() && pool_.blocks_needed() > kv_.available()) {
    if (!partial_.empty()) {
      preempt_newest_partial();  // counts itself in stats_
      ++preempted;
      continue;
    }
    const DecodePool::Removed v = pool_.pop_newest();
    Request& req = this->req(v.request);
    req.generated = static_cast<std::int32_t>(v.tokens - req.prompt_tokens);
    req.last_token = v.last_token;
    ++req.preemptions;
    ++preempted;
    ++stats_.preemptions;
    // Its own blocks (not those shared from a cached prefix) leave the GPU.
    const std::int64_t own = v.kv_blocks - req.shared_blocks;
    if (limits_.swap && swapped_blocks_ + own <= limits_.swap_blocks) {
      // Its KV goes to host memory and will come back as it was; a shared prefix stays
      // referenced, so it stays cached for its return.
      kv_.release(own);
      swapped_.push_front(Swapped{v.request, v.tokens, own, v.last_token});
      swapped_blocks_ += own;
      swap_out_bytes_ += static_cast<double>(own) * limits_.swap_bytes_per_block;
      ++stats_.swaps;
      continue;
    }
    release_kv(req, v.kv_blocks);
    outstanding_tokens_ += v.tokens;  // all of it is computed again
    req.state = RequestState::kWaiting;
    waiting_.push_front(v.request);
  }
  if (preempted_out) *preempted_out = preempted;
  kv_.allocate(pool_.blocks_needed());
  return !pool_.empty();
}

std::int64_t Replica::swap_in() {
  std::int64_t back = 0;
  while (!swapped_.empty()) {
    const Swapped& s = swapped_.front();
    // Room for its blocks and the block the next decode step may add, with the watermark;
    // with nothing else running, the whole cache is free and it always fits.
    const bool alone = pool_.empty() && prefilling_ == 0;
    if (!kv_.can_allocate(s.blocks + (alone ? 0 : 1), alone ? 0 : limits_.watermark_blocks)) break;
    kv_.allocate(s.blocks);
    swapped_blocks_ -= s.blocks;
    swap_in_bytes_ += static_cast<double>(s.blocks) * limits_.swap_bytes_per_block;
    const Request& req = this->req(s.request);
    pool_.join(s.request, s.tokens, std::int64_t{req.prompt_tokens} + req.output_tokens,
               s.last_token, !req.warmup);
    swapped_.pop_front();
    ++back;
  }
  return back;
}

std::uint32_t Replica::take_front() {
  const std::uint32_t r = waiting_.front();
  waiting_.pop_front();
  Request& req = this->req(r);
  if (req.first_scheduled == SimTime::never()) req.first_scheduled = started_;
  req.state = RequestState::kRunning;
  outstanding_tokens_ -= req.prompt_tokens;
  return r;
}

void Replica::record_token(std::uint32_t r, SimTime now) {
  Request& req = this->req(r);
  if (req.first_token == SimTime::never()) {
    req.first_token = now;
  } else if (!req.warmup) {
    env_.itl->add(static_cast<double>((now - req.last_token + env_.itl_offset).ns), 1);
  }
  req.last_token = now;
  req.generated += 1;
  outstanding_tokens_ -= 1;
}

void Replica::try_start(SimTime now) {
  if (busy()) return;
  started_ = now;
  ++tick_;
  join_arrived();
  if (handoff_ != nullptr) handoff_->planning(*this, now);
  scheduler_->plan(*this, plan_);
  if (plan_.empty()) {
    if (!waiting_.empty() && held_blocks_ > 0 && stall_since_ == SimTime::never()) {
      stall_since_ = now;
    }
    if (plan_.wake_at != SimTime::never()) plan_at(plan_.wake_at);  // a batching timeout
    return;
  }
  if (stall_since_ != SimTime::never()) {
    stats_.stalled = stats_.stalled + (now - stall_since_);
    stall_since_ = SimTime::never();
  }
  shape_ = plan_.custom ? *plan_.custom : BatchShape{};
  shape_.window = limits_.attention_window;
  for (const PrefillChunk& c : plan_.prefills) shape_.add_prefill(c.tokens, c.prior);
  if (plan_.decode) {
    shape_.decode_seqs = pool_.size();
    shape_.decode_ctx = pool_.context_sum();
    shape_.decode_ctx_sq = pool_.context_sum_sq();
    shape_.decode_ctx_w = pool_.window_context_sum();
    shape_.decode_ctx_w_sq = pool_.window_context_sum_sq();
  }
  if (env_.log != nullptr) {
    // Recorded as it is planned, so the log stays in start order; its end is known at launch.
    log_at_ = env_.log->size();
    env_.log->push_back(IterationRecord{now, SimTime::never(), index_,
                                        static_cast<std::int32_t>(shape_.prefill_seqs),
                                        shape_.prefill_tokens,
                                        static_cast<std::int32_t>(shape_.decode_seqs), kv_.used(),
                                        static_cast<std::int32_t>(waiting_.size()),
                                        static_cast<std::int32_t>(running())});
  }
  // Swap copies planned for this iteration block it: they cross the cluster's network (each
  // GPU's link to host memory) and the batch runs once they are done.
  const double out = swap_out_bytes_;
  const double in = swap_in_bytes_;
  swap_out_bytes_ = swap_in_bytes_ = 0;
  if (out + in > 0) {
    if (host_ == nullptr) throw std::logic_error("a replica swaps without a link to host memory");
    pending_copies_ = host_->copy(*this, out, true, *this, now) +
                      host_->copy(*this, in, false, *this, now);
    copying_ = pending_copies_ > 0;
    if (copying_) return;
  }
  launch(now, Seconds(0.0));
}

void Replica::flow_done(std::uint32_t, SimTime now) {
  const Touch touch(*this);
  if (--pending_copies_ > 0) return;
  copying_ = false;
  launch(now, Seconds(0.0));
}

void Replica::launch(SimTime now, Seconds wait) {
  const Launch run = executor_->launch(shape_, wait, now);
  stats_.iterations += 1;
  stats_.batched_seqs += shape_.seqs();
  stats_.computed_tokens += static_cast<double>(shape_.tokens());
  stats_.flops += run.flops;
  stats_.bytes += run.bytes;
  stats_.moe_comm += run.moe_comm;
  if (hands_off_) {
    // Prefills that finish in this iteration: their KV can start to leave layer by layer.
    for (const PrefillChunk& c : plan_.prefills) {
      const Request& q = request(c.request);
      if (c.prior + c.tokens == q.prefill_target() && q.generated == 0 && q.output_tokens > 1) {
        handoff_->prefill_starting(*this, c.request, now, run.end);
      }
    }
  }
}

void Replica::batch_done(SimTime now) {
  const Touch touch(*this);
  stats_.last_end = now;
  stats_.busy = stats_.busy + (now - started_);
  if (env_.log != nullptr) (*env_.log)[log_at_].end = now;
  complete(now);
  try_start(now);
  report_finished(now);
}

void Replica::report_finished(SimTime now) {
  for (std::uint32_t r : finished_) env_.done->request_done(r, now);
  finished_.clear();
}

void Replica::finish(std::uint32_t r, SimTime now, std::int64_t kv_blocks) {
  Request& req = this->req(r);
  release_kv(req, kv_blocks);
  req.generated = req.output_tokens;
  req.finish = now;
  req.last_token = now;
  req.state = RequestState::kDone;
  --outstanding_;
  finished_.push_back(r);
}

void Replica::emit_prefill_token(const PrefillChunk& c, SimTime now) {
  Request& req = this->req(c.request);
  --prefilling_;
  if (hands_off_ && req.generated == 0 && req.output_tokens > 1) {
    // The first token is made here but reaches the client from the decode instance, with the
    // KV: this replica holds the prompt's KV until it has left, and decodes nothing.
    req.generated = 1;
    outstanding_tokens_ -= req.output_tokens;
    --outstanding_;
    const std::int64_t own = kv_.blocks_for(c.prior + c.tokens) - req.shared_blocks;
    if (!held_.emplace(c.request, Held{own, req.shared_blocks > 0 ? req.prefix_id : -1}).second) {
      throw std::logic_error("a request's KV was handed off twice");
    }
    held_blocks_ += own;
    req.shared_blocks = 0;
    handoff_->prefilled(*this, c.request, now);
    return;
  }
  if (req.first_token == SimTime::never()) {
    req.first_token = now;
  } else if (!req.warmup) {
    env_.itl->add(static_cast<double>((now - req.last_token + env_.itl_offset).ns), 1);
  }
  outstanding_tokens_ -= 1;
  req.generated += 1;
  req.last_token = now;
  if (req.generated >= req.output_tokens) {
    finish(c.request, now, kv_.blocks_for(c.prior + c.tokens));
    return;
  }
  pool_.join(c.request, std::int64_t{req.prompt_tokens} + req.generated,
             std::int64_t{req.prompt_tokens} + req.output_tokens, now, !req.warmup);
}

void Replica::complete(SimTime now) {
  if (plan_.custom) {
    scheduler_->complete(*this, plan_, now);
    return;
  }
  // The decode step first: sequences whose prefill ends in this iteration join the pool
  // afterwards, so they are not stepped in the iteration that made their first token.
  if (plan_.decode) {
    outstanding_tokens_ -= shape_.decode_seqs;
    pool_.step(
        now, [&](SimTime gap, std::int64_t count) {
          env_.itl->add(static_cast<double>((gap + env_.itl_offset).ns), static_cast<std::uint64_t>(count));
        },
        [&](const DecodePool::Removed& r) { finish(r.request, now, r.kv_blocks); });
  }
  // Chunks that did not finish their prefill stay partial: those continued from earlier
  // iterations go back to the front in their order, new ones behind every older request.
  std::size_t continued = 0;
  for (const PrefillChunk& c : plan_.prefills) {
    Request& req = this->req(c.request);
    offer_prefix(req, c.prior + c.tokens);
    if (c.prior + c.tokens == req.prefill_target()) {
      req.computed = 0;
      emit_prefill_token(c, now);
      continue;
    }
    req.computed = static_cast<std::int32_t>(c.prior + c.tokens);
    if (c.prior > 0) {
      partial_.insert(partial_.begin() + static_cast<std::ptrdiff_t>(continued++), c.request);
    } else {
      partial_.push_back(c.request);
    }
  }
}

}  // namespace servesim
