// Persistent thread pool; see threadpool.h for the rules.
#include "threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpuRelax() { _mm_pause(); }
#else
static inline void cpuRelax() {}
#endif

#include <unistd.h>

namespace layerlock {
namespace {

// How long an idle worker spins for the next loop before it sleeps, and how long a dispatcher spins
// for stragglers. Measured on a 2-vCPU KVM guest: a worker woken from sleep starts 30-300 us
// later (the idle vCPU has to be rescheduled by the host), during which the caller has often done
// all the tasks alone. A training step issues kernel calls a few hundred microseconds apart, so a
// worker that keeps spinning for a while catches the next loop within a microsecond. The window is
// short enough that an idle process gives its cores back almost at once; LAYERLOCK_SPIN_US tunes it
// (0 = sleep at once, e.g. when several processes share the cores).
const long kDefaultSpinMicros = 300;
const long kDispatcherSpinMicros = 5000;

long spinMicros() {
  const char* env = std::getenv("LAYERLOCK_SPIN_US");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) return v > 1000000 ? 1000000 : v;
  }
  return kDefaultSpinMicros;
}

// Spins until done() or `micros` elapse; returns done(). Reads the clock only every 64 pauses.
template <typename Pred>
bool spinFor(long micros, Pred done) {
  if (done()) return true;
  if (micros <= 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (done()) return true;
      cpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

thread_local bool tlInside = false;

int defaultThreads() {
  const char* env = std::getenv("LAYERLOCK_THREADS");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1) return v > 256 ? 256 : static_cast<int>(v);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > 256 ? 256 : static_cast<int>(n);
}

class Pool {
 public:
  Pool() : threads_(defaultThreads()), spinMicros_(spinMicros()) { start(); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  // Idle workers stop spinning and sleep now (the process is about to wait on another one: its
  // spinning would only take the cores that process needs).
  void park() { parkEpoch_.fetch_add(1, std::memory_order_release); }

  void resize(int n) {
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    std::lock_guard<std::mutex> d(dispatch_);  // never resize under a running loop
    if (n == threads_.load()) return;
    stop();
    threads_.store(n);
    start();
  }

  // Returns false (and does nothing) if another loop is running: the caller then runs inline.
  bool run(int tasks, TaskFn fn, void* ctx) {
    std::unique_lock<std::mutex> d(dispatch_, std::try_to_lock);
    if (!d.owns_lock()) return false;
    if (threads_.load(std::memory_order_relaxed) <= 1) return false;
    uint32_t gen;
    {
      std::lock_guard<std::mutex> lk(m_);
      gen = static_cast<uint32_t>(generation_.load(std::memory_order_relaxed) + 1);
      fn_ = fn;
      ctx_ = ctx;
      tasks_ = tasks;
      completed_.store(0, std::memory_order_relaxed);
      ticket_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    tlInside = true;
    work(0, gen, fn, ctx, tasks);
    tlInside = false;
    // Wait until every task has finished (fn/ctx live on the caller's stack). Workers that have
    // not even woken up yet are not waited for: they can no longer claim a task of this loop.
    if (!spinFor(kDispatcherSpinMicros, [&] { return completed_.load(std::memory_order_acquire) == tasks; })) {
      std::unique_lock<std::mutex> lk(m_);
      done_.wait(lk, [&] { return completed_.load(std::memory_order_acquire) == tasks; });
    }
    return true;
  }

 private:
  // Claims tasks of loop `gen` until none is left. The ticket packs (generation, next task) in one
  // word, so a worker that wakes late for an already finished loop can never claim a task of the
  // next one with the previous loop's function.
  void work(int worker, uint32_t gen, TaskFn fn, void* ctx, int tasks) {
    for (;;) {
      uint64_t v = ticket_.load(std::memory_order_acquire);
      uint32_t t;
      for (;;) {
        if (static_cast<uint32_t>(v >> 32) != gen) return;
        t = static_cast<uint32_t>(v);
        if (t >= static_cast<uint32_t>(tasks)) return;
        if (ticket_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
      }
      fn(ctx, static_cast<int>(t), worker);
      if (completed_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        std::lock_guard<std::mutex> lk(m_);  // pairs with the dispatcher's predicate check
        done_.notify_all();
      }
    }
  }

  // `seen` is the generation when the thread was created: reading it inside the new thread would
  // race with the first dispatch and could skip that loop.
  void workerMain(int worker, uint64_t seen) {
    for (;;) {
      // Spin briefly for the next loop (unless parked meanwhile), then sleep.
      const uint64_t parked = parkEpoch_.load(std::memory_order_acquire);
      spinFor(spinMicros_, [&] {
        return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed) ||
               parkEpoch_.load(std::memory_order_relaxed) != parked;
      });
      TaskFn fn;
      void* ctx;
      int tasks;
      {
        std::unique_lock<std::mutex> lk(m_);
        wake_.wait(lk, [&] {
          return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed);
        });
        if (stopping_.load(std::memory_order_relaxed)) return;
        seen = generation_.load(std::memory_order_acquire);
        fn = fn_;
        ctx = ctx_;
        tasks = tasks_;
      }
      tlInside = true;
      work(worker, static_cast<uint32_t>(seen), fn, ctx, tasks);
      tlInside = false;
    }
  }

  void start() {
    stopping_.store(false);
    const uint64_t gen = generation_.load();
    for (int i = 1; i < threads_.load(); i++) workers_.emplace_back(&Pool::workerMain, this, i, gen);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::atomic<int> threads_;  // read without the dispatch lock by poolThreads()
  std::atomic<uint64_t> parkEpoch_{0};
  const long spinMicros_;
  std::vector<std::thread> workers_;
  std::mutex dispatch_;  // held by the thread running a loop (or resizing)
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> completed_{0};
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int tasks_ = 0;
};

std::once_flag poolOnce;
Pool* pool = nullptr;

Pool& getPool() {
  // Deliberately leaked; see threadpool.h.
  std::call_once(poolOnce, [] { pool = new Pool(); });
  return *pool;
}

}  // namespace

int poolThreads() { return getPool().threads(); }

void setPoolThreads(int n) { getPool().resize(n); }

void parkPool() { getPool().park(); }

bool insideParallelRegion() { return tlInside; }

void parallelFor(int tasks, TaskFn fn, void* ctx) {
  if (tasks <= 0) return;
  if (tasks > 1 && !tlInside && getPool().run(tasks, fn, ctx)) return;
  // Inline: nested loop, busy pool, single thread or single task.
  bool outer = tlInside;
  tlInside = true;
  for (int t = 0; t < tasks; t++) fn(ctx, t, 0);
  tlInside = outer;
}

}  // namespace layerlock
