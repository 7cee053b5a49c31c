// Doorbells for the emulated TEE's control channel (src/tee/shared/mailbox.ts): a 32-bit counter in
// the shared-memory pool that one process bumps and the other waits on — a spin, then a futex wait
// on the shared page. This replaces the two event loops a request/reply frame used to cross (the
// client's pipe and the TA's stdin), which cost ~0.3 ms per round trip on an idle machine and more
// inside training, where the waiting process has gone to sleep in epoll.
//
//   doorbellRing(buffer, offset)                           -> the counter's new value (wakes waiters)
//   doorbellWait(buffer, offset, seen, spinUs, timeoutMs)  -> the counter's value once it differs
//                                                             from `seen`, or `seen` at the timeout
//   processExit(pid)                                       -> null while `pid` runs, else
//                                                             { code, signal } (not reaped: the
//                                                             event loop still gets its 'exit')
//
// The futex is a shared (not PROCESS_PRIVATE) one: the two processes map the same memfd page.
// Linux only; elsewhere the functions throw and the client keeps the pipe's event-loop channel.
#include "shm.h"

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define LAYERLOCK_HAVE_FUTEX 1
#endif

namespace layerlock {
namespace {

napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

bool number(napi_env env, napi_value v, double& out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  return napi_get_value_double(env, v, &out) == napi_ok;
}

// The aligned 32-bit word at `offset` of an ArrayBuffer, or null (after throwing).
int32_t* word(napi_env env, napi_value buffer, napi_value offset) {
  bool isAb = false;
  if (napi_is_arraybuffer(env, buffer, &isAb) != napi_ok || !isAb) {
    napi_throw_type_error(env, nullptr, "doorbell: the first argument must be the shared ArrayBuffer");
    return nullptr;
  }
  void* data = nullptr;
  size_t len = 0;
  napi_get_arraybuffer_info(env, buffer, &data, &len);
  double off;
  if (!number(env, offset, off) || off < 0 || off + 4 > static_cast<double>(len) || static_cast<int64_t>(off) % 4 != 0 ||
      off != static_cast<double>(static_cast<int64_t>(off))) {
    napi_throw_range_error(env, nullptr, "doorbell: offset must be an aligned word inside the buffer");
    return nullptr;
  }
  return reinterpret_cast<int32_t*>(static_cast<char*>(data) + static_cast<size_t>(off));
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

napi_value DoorbellRing(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) return fail(env, "doorbellRing(buffer, offset)");
  int32_t* w = word(env, argv[0], argv[1]);
  if (!w) return nullptr;
#ifdef LAYERLOCK_HAVE_FUTEX
  // Release: the frame written before the ring is visible to whoever sees the new value.
  int32_t v = __atomic_add_fetch(w, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
#else
  return fail(env, "doorbells need Linux (futex)");
#endif
}

napi_value DoorbellWait(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 5) return fail(env, "doorbellWait(buffer, offset, seen, spinUs, timeoutMs)");
  int32_t* w = word(env, argv[0], argv[1]);
  if (!w) return nullptr;
  double seenD, spinUs, timeoutMs;
  if (!number(env, argv[2], seenD) || !number(env, argv[3], spinUs) || !number(env, argv[4], timeoutMs) || spinUs < 0 || timeoutMs < 0) {
    napi_throw_type_error(env, nullptr, "doorbellWait: seen, spinUs and timeoutMs must be numbers (>= 0 for the times)");
    return nullptr;
  }
#ifdef LAYERLOCK_HAVE_FUTEX
  const int32_t seen = static_cast<int32_t>(static_cast<int64_t>(seenD));
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
  // Spinning first: a reply that comes within the spin is seen without a sleep and a wake-up,
  // which is where most of a round trip's time goes when a core is free.
  if (v == seen && spinUs > 0) {
    const auto spinEnd = start + std::chrono::microseconds(static_cast<int64_t>(spinUs));
    unsigned n = 0;
    while ((v = __atomic_load_n(w, __ATOMIC_ACQUIRE)) == seen) {
      cpuRelax();
      if ((++n & 63) == 0 && clock::now() >= spinEnd) break;
    }
  }
  const auto deadline = start + std::chrono::microseconds(static_cast<int64_t>(timeoutMs * 1000));
  while (v == seen) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now()).count();
    if (left <= 0) break;
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(left / 1000000000);
    ts.tv_nsec = static_cast<long>(left % 1000000000);
    // Sleeps only while the word still holds `seen` (no lost wake-up between the check and the wait).
    syscall(SYS_futex, w, FUTEX_WAIT, seen, &ts, nullptr, 0);
    v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
  }
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
#else
  return fail(env, "doorbells need Linux (futex)");
#endif
}

napi_value ProcessExit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double pidD;
  if (argc < 1 || !number(env, argv[0], pidD) || pidD < 1) {
    napi_throw_type_error(env, nullptr, "processExit(pid)");
    return nullptr;
  }
#ifdef LAYERLOCK_HAVE_FUTEX
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  // WNOWAIT: look without reaping, so libuv still collects the child and emits 'exit'.
  if (waitid(P_PID, static_cast<id_t>(pidD), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == ECHILD) {
      // Already reaped (the event loop ran): gone, status unknown here.
      napi_value obj, nul;
      napi_create_object(env, &obj);
      napi_get_null(env, &nul);
      napi_set_named_property(env, obj, "code", nul);
      napi_set_named_property(env, obj, "signal", nul);
      return obj;
    }
    return fail(env, std::string("waitid: ") + std::strerror(errno));
  }
  napi_value out;
  if (si.si_pid == 0) {
    napi_get_null(env, &out);
    return out;
  }
  napi_value code, signal;
  if (si.si_code == CLD_EXITED) {
    napi_create_int32(env, si.si_status, &code);
    napi_get_null(env, &signal);
  } else {
    napi_get_null(env, &code);
    napi_create_int32(env, si.si_status, &signal);
  }
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "code", code);
  napi_set_named_property(env, out, "signal", signal);
  return out;
#else
  return fail(env, "processExit needs Linux");
#endif
}

}  // namespace layerlock
