// memfd-backed shared memory mapped into JS as external ArrayBuffers (no copies).
//
//   shmCreate(bytes)       -> { fd, buffer }  a new sealed-size memfd, mapped MAP_SHARED; the caller
//                                             passes fd to the TA process and then closes it
//   shmMap(fd, bytes)      -> ArrayBuffer     maps an inherited memfd (checks its size), closes fd
//   shmRelease(buffer)                        detaches the ArrayBuffer and unmaps it at once
//
// An ArrayBuffer that is garbage-collected without shmRelease is unmapped by its finalizer. Linux
// only (memfd_create); elsewhere every call throws and the TEE client falls back to the pipe.
#include "shm.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LAYERLOCK_HAVE_MEMFD 1
#endif

namespace layerlock {
namespace {

struct Mapping {
  void* addr;
  size_t len;
  bool mapped;
};

std::mutex gMutex;
std::unordered_map<void*, Mapping*> gMappings;

// Largest pool accepted (the memfd is sparse: only touched pages cost memory).
const int64_t kMaxShm = int64_t(1) << 34;

napi_value throwError(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

bool getInt64(napi_env env, napi_value v, const char* name, int64_t lo, int64_t hi, int64_t& out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    napi_throw_type_error(env, nullptr, (std::string(name) + " must be a number").c_str());
    return false;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    napi_throw_range_error(env, nullptr, (std::string(name) + " is out of range").c_str());
    return false;
  }
  out = static_cast<int64_t>(d);
  return true;
}

#ifdef LAYERLOCK_HAVE_MEMFD
void finalizeMapping(napi_env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gMappings.find(m->addr);
    if (it != gMappings.end() && it->second == m) gMappings.erase(it);
  }
  if (m->mapped) munmap(m->addr, m->len);
  delete m;
}

napi_value wrap(napi_env env, void* addr, size_t len) {
  Mapping* m = new Mapping{addr, len, true};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, len, finalizeMapping, m, &ab) != napi_ok) {
    munmap(addr, len);
    delete m;
    return throwError(env, "cannot wrap shared memory in an ArrayBuffer");
  }
  std::lock_guard<std::mutex> lock(gMutex);
  gMappings[addr] = m;
  return ab;
}
#endif

}  // namespace

napi_value ShmCreate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 1) return throwError(env, "shmCreate(bytes)");
  int64_t bytes;
  if (!getInt64(env, argv[0], "bytes", 1, kMaxShm, bytes)) return nullptr;
#ifdef LAYERLOCK_HAVE_MEMFD
  int fd = static_cast<int>(syscall(SYS_memfd_create, "layerlock-tee-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) return throwError(env, std::string("memfd_create: ") + std::strerror(errno));
  if (ftruncate(fd, bytes) != 0) {
    int e = errno;
    close(fd);
    return throwError(env, std::string("ftruncate: ") + std::strerror(e));
  }
  // The size is fixed from now on: neither side can shrink it under the other's mapping (SIGBUS).
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  void* addr = mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    int e = errno;
    close(fd);
    return throwError(env, std::string("mmap: ") + std::strerror(e));
  }
  napi_value ab = wrap(env, addr, static_cast<size_t>(bytes));
  if (!ab) {
    close(fd);
    return nullptr;
  }
  napi_value obj, fdv;
  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &fdv);
  napi_set_named_property(env, obj, "fd", fdv);
  napi_set_named_property(env, obj, "buffer", ab);
  return obj;
#else
  return throwError(env, "shared memory needs Linux (memfd_create)");
#endif
}

napi_value ShmMap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) return throwError(env, "shmMap(fd, bytes)");
  int64_t fd, bytes;
  if (!getInt64(env, argv[0], "fd", 0, 1 << 20, fd)) return nullptr;
  if (!getInt64(env, argv[1], "bytes", 1, kMaxShm, bytes)) return nullptr;
#ifdef LAYERLOCK_HAVE_MEMFD
  struct stat st;
  if (fstat(static_cast<int>(fd), &st) != 0) return throwError(env, std::string("fstat(shared memory fd): ") + std::strerror(errno));
  if (st.st_size < bytes) {
    close(static_cast<int>(fd));
    return throwError(env, "the shared memory is smaller than announced");
  }
  void* addr = mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(fd), 0);
  int e = errno;
  close(static_cast<int>(fd));
  if (addr == MAP_FAILED) return throwError(env, std::string("mmap: ") + std::strerror(e));
  return wrap(env, addr, static_cast<size_t>(bytes));
#else
  return throwError(env, "shared memory needs Linux (memfd_create)");
#endif
}

napi_value ShmRelease(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isAb = false;
  if (argc < 1 || napi_is_arraybuffer(env, argv[0], &isAb) != napi_ok || !isAb) {
    napi_throw_type_error(env, nullptr, "shmRelease(arrayBuffer)");
    return nullptr;
  }
#ifdef LAYERLOCK_HAVE_MEMFD
  void* data = nullptr;
  size_t len = 0;
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gMappings.find(data);
    if (it != gMappings.end()) m = it->second;
  }
  if (!m || !m->mapped) return nullptr;  // not ours, or released already
  // Detach first: no JS view can reach the pages once they are unmapped.
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) return throwError(env, "cannot detach the shared memory's ArrayBuffer");
  munmap(m->addr, m->len);
  m->mapped = false;
#endif
  return nullptr;
}

}  // namespace layerlock
