// A small persistent pool of native threads for the kernels.
//
// Why not OpenMP: it would add a runtime dependency (libgomp) and its own thread-count rules;
// the work here is a handful of coarse parallel loops, so a condition variable plus an atomic
// task counter is all we need.
//
// Rules that keep it safe inside Node:
//  * parallelFor() called while a parallel region is already running (a nested call from a task,
//    or a second JS thread using the addon at the same time) runs the loop inline on the calling
//    thread instead of waiting, so nothing can deadlock.
//  * The pool is created on first use and never destroyed: worker threads sleep on a condition
//    variable that lives in leaked heap memory, so process exit never runs a std::thread
//    destructor on a joinable thread (which would call std::terminate).
#pragma once

#include <type_traits>

namespace layerlock {

/** Body of a parallel loop: task index in [0, tasks), worker id in [0, threads()). */
typedef void (*TaskFn)(void* ctx, int task, int worker);

/** Number of threads parallel loops use (including the calling thread). */
int poolThreads();

/** Changes the thread count (clamped to [1, 256]). Waits for a running loop to finish first. */
void setPoolThreads(int n);

/** Idle workers stop spinning at once (before this process waits on another one). */
void parkPool();

/**
 * Runs fn(ctx, t, worker) for t in [0, tasks) on up to poolThreads() threads and returns when all
 * are done. Tasks are handed out dynamically; `worker` is unique among the tasks of THIS loop that
 * run concurrently, so it can index per-loop scratch (e.g. private accumulators) sized
 * poolThreads(). Scratch that outlives one loop must be thread_local instead: an inline loop on
 * another JS thread numbers its workers from 0 as well.
 * Runs inline (worker 0) when tasks <= 1, the pool has one thread, or we are already inside a loop.
 */
void parallelFor(int tasks, TaskFn fn, void* ctx);

/** Lambda convenience wrapper around parallelFor. */
template <typename F>
inline void parallelForEach(int tasks, F&& body) {
  typedef typename std::remove_reference<F>::type Body;
  struct Thunk {
    static void run(void* p, int task, int worker) { (*static_cast<Body*>(p))(task, worker); }
  };
  parallelFor(tasks, &Thunk::run, const_cast<void*>(static_cast<const void*>(&body)));
}

/** True while the current thread executes a task of a parallel loop (or dispatches one). */
bool insideParallelRegion();

}  // namespace layerlock
