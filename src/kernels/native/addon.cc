// Node-API entry points. Every argument is checked here, before any kernel runs: typed arrays must
// have the right element type and be large enough for every element the operation will touch, all
// sizes must be non-negative integers, and an output must not overlap an input. A bad call throws a
// JS TypeError/RangeError and writes nothing. Typed arrays are used in place (zero copy).
//
// Plain C Node-API (node_api.h), so the addon needs nothing beyond Node's own headers and is
// ABI-stable across Node versions.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "conv.h"
#include "eltwise.h"
#include "gemm.h"
#include "shm.h"
#include "threadpool.h"

namespace layerlock {
namespace {

// Sizes are kept below 2^31 per dimension and 2^53 in products, so index arithmetic in int64
// can never overflow and every value is exactly representable as a JS number.
const int64_t kMaxDim = 0x7fffffff;
const int64_t kMaxExtent = int64_t(1) << 53;

struct Args {
  napi_env env;
  size_t argc;
  napi_value argv[16];
};

bool getArgs(napi_env env, napi_callback_info info, size_t expected, Args& a) {
  a.env = env;
  a.argc = 16;
  if (napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, nullptr) != napi_ok) return false;
  if (a.argc < expected) {
    std::string msg = "expected " + std::to_string(expected) + " arguments, got " + std::to_string(a.argc);
    napi_throw_type_error(env, nullptr, msg.c_str());
    return false;
  }
  return true;
}

bool typeError(napi_env env, const std::string& msg) {
  napi_throw_type_error(env, nullptr, msg.c_str());
  return false;
}

bool rangeError(napi_env env, const std::string& msg) {
  napi_throw_range_error(env, nullptr, msg.c_str());
  return false;
}

bool getBool(napi_env env, napi_value v, const char* name, bool& out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) return typeError(env, std::string(name) + " must be a boolean");
  return napi_get_value_bool(env, v, &out) == napi_ok;
}

bool getNumber(napi_env env, napi_value v, const char* name, double& out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return typeError(env, std::string(name) + " must be a number");
  return napi_get_value_double(env, v, &out) == napi_ok;
}

// An integer in [lo, hi].
bool getInt(napi_env env, napi_value v, const char* name, int64_t lo, int64_t hi, int64_t& out) {
  double d;
  if (!getNumber(env, v, name, d)) return false;
  if (!std::isfinite(d) || d != std::floor(d))
    return rangeError(env, std::string(name) + " must be an integer, got " + std::to_string(d));
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    return rangeError(env, std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "], got " + std::to_string(static_cast<long long>(d)));
  out = static_cast<int64_t>(d);
  return true;
}

template <typename T>
struct Typed {
  T* data;
  int64_t length;
};

template <typename T>
bool getTyped(napi_env env, napi_value v, const char* name, napi_typedarray_type want, const char* typeName,
              Typed<T>& out) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return typeError(env, std::string(name) + " must be a " + typeName);
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  if (type != want) return typeError(env, std::string(name) + " must be a " + typeName);
  out.data = static_cast<T*>(data);
  out.length = static_cast<int64_t>(length);
  return true;
}

bool getF32(napi_env env, napi_value v, const char* name, Typed<float>& out) {
  return getTyped(env, v, name, napi_float32_array, "Float32Array", out);
}

bool getI32(napi_env env, napi_value v, const char* name, Typed<int32_t>& out) {
  return getTyped(env, v, name, napi_int32_array, "Int32Array", out);
}

// Product of non-negative factors, or -1 if it exceeds kMaxExtent.
int64_t product(std::initializer_list<int64_t> xs) {
  int64_t p = 1;
  for (int64_t x : xs) {
    if (x != 0 && p > kMaxExtent / x) return -1;
    p *= x;
  }
  return p;
}

// Byte range [lo, hi) of memory an operand touches, for overlap checks.
struct Span {
  const char* lo;
  const char* hi;
};

template <typename T>
Span spanOf(const T* base, int64_t first, int64_t count) {
  const char* p = reinterpret_cast<const char*>(base + first);
  return Span{p, p + count * static_cast<int64_t>(sizeof(T))};
}

bool overlaps(Span a, Span b) { return a.lo < b.hi && b.lo < a.hi && a.lo != a.hi && b.lo != b.hi; }

bool checkNoOverlap(napi_env env, Span out, const char* outName, Span in, const char* inName) {
  if (overlaps(out, in)) return rangeError(env, std::string(outName) + " must not overlap " + inName);
  return true;
}

// A stored rows×cols matrix at offset with row stride ld must lie inside the array.
bool checkMatrix(napi_env env, const char* name, int64_t length, int64_t offset, int64_t rows, int64_t cols, int64_t ld,
                 Span& span, const float* base) {
  if (rows == 0 || cols == 0) {
    span = Span{nullptr, nullptr};
    return true;
  }
  const int64_t last = offset + (rows - 1) * ld + (cols - 1);  // < 2^31·2^31 + 2^53: no overflow
  if (last >= length)
    return rangeError(env, std::string(name) + ": a " + std::to_string(rows) + "x" + std::to_string(cols) +
                               " matrix at offset " + std::to_string(offset) + " with leading dimension " +
                               std::to_string(ld) + " needs " + std::to_string(last + 1) + " elements, the array has " +
                               std::to_string(length));
  span = spanOf(base, offset, last - offset + 1);
  return true;
}

// gemm(transA, transB, M, N, K, alpha, A, aOffset, lda, B, bOffset, ldb, beta, C, cOffset, ldc)
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 16, a)) return nullptr;
  bool transA, transB;
  int64_t M, N, K, aOff, lda, bOff, ldb, cOff, ldc;
  double alpha, beta;
  Typed<float> A, B, C;
  if (!getBool(env, a.argv[0], "transA", transA) || !getBool(env, a.argv[1], "transB", transB) ||
      !getInt(env, a.argv[2], "M", 0, kMaxDim, M) || !getInt(env, a.argv[3], "N", 0, kMaxDim, N) ||
      !getInt(env, a.argv[4], "K", 0, kMaxDim, K) || !getNumber(env, a.argv[5], "alpha", alpha) ||
      !getF32(env, a.argv[6], "A", A) || !getInt(env, a.argv[7], "aOffset", 0, kMaxExtent, aOff) ||
      !getInt(env, a.argv[8], "lda", 0, kMaxDim, lda) || !getF32(env, a.argv[9], "B", B) ||
      !getInt(env, a.argv[10], "bOffset", 0, kMaxExtent, bOff) || !getInt(env, a.argv[11], "ldb", 0, kMaxDim, ldb) ||
      !getNumber(env, a.argv[12], "beta", beta) || !getF32(env, a.argv[13], "C", C) ||
      !getInt(env, a.argv[14], "cOffset", 0, kMaxExtent, cOff) || !getInt(env, a.argv[15], "ldc", 0, kMaxDim, ldc))
    return nullptr;
  if (M == 0 || N == 0) return nullptr;  // nothing is read or written
  if (M > 1 && ldc < N)
    return rangeError(env, "ldc (" + std::to_string(ldc) + ") must be at least N (" + std::to_string(N) + ")"), nullptr;
  Span sa{nullptr, nullptr}, sb{nullptr, nullptr}, sc;
  if (!checkMatrix(env, "C", C.length, cOff, M, N, ldc, sc, C.data)) return nullptr;
  if (K > 0) {
    // Stored shapes: A is M×K (K×M if transposed), B is K×N (N×K if transposed).
    if (!checkMatrix(env, "A", A.length, aOff, transA ? K : M, transA ? M : K, lda, sa, A.data)) return nullptr;
    if (!checkMatrix(env, "B", B.length, bOff, transB ? N : K, transB ? K : N, ldb, sb, B.data)) return nullptr;
    if (!checkNoOverlap(env, sc, "C", sa, "A") || !checkNoOverlap(env, sc, "C", sb, "B")) return nullptr;
  }
  // op(A)(i, p) and op(B)(p, j) as strided views: a transpose is just swapped strides.
  ConstView va{A.data + aOff, transA ? 1 : lda, transA ? lda : 1};
  ConstView vb{B.data + bOff, transB ? 1 : ldb, transB ? ldb : 1};
  sgemm(M, N, K, static_cast<float>(alpha), va, vb, static_cast<float>(beta), View{C.data + cOff, ldc, 1}, true);
  return nullptr;
}

bool getGeomField(napi_env env, napi_value obj, const char* field, int64_t lo, int64_t& out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, field, &has) != napi_ok) return false;
  if (!has) return typeError(env, std::string("geometry is missing '") + field + "'");
  if (napi_get_named_property(env, obj, field, &v) != napi_ok) return false;
  std::string name = std::string("geometry.") + field;
  return getInt(env, v, name.c_str(), lo, kMaxDim, out);
}

bool getObject(napi_env env, napi_value v, const char* name) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) return typeError(env, std::string(name) + " must be an object");
  return true;
}

bool getConvGeom(napi_env env, napi_value v, ConvGeom& g) {
  if (!getObject(env, v, "geometry")) return false;
  int64_t c, h, w, f, s, st, p, oh, ow;
  if (!getGeomField(env, v, "channels", 1, c) || !getGeomField(env, v, "height", 1, h) ||
      !getGeomField(env, v, "width", 1, w) || !getGeomField(env, v, "filters", 1, f) ||
      !getGeomField(env, v, "size", 1, s) || !getGeomField(env, v, "stride", 1, st) ||
      !getGeomField(env, v, "padding", 0, p) || !getGeomField(env, v, "outHeight", 1, oh) ||
      !getGeomField(env, v, "outWidth", 1, ow))
    return false;
  g = ConvGeom{c, h, w, f, s, st, p, oh, ow};
  return true;
}

bool getPoolGeom(napi_env env, napi_value v, PoolGeom& g) {
  if (!getObject(env, v, "geometry")) return false;
  int64_t c, h, w, s, st, p, oh, ow;
  if (!getGeomField(env, v, "channels", 1, c) || !getGeomField(env, v, "height", 1, h) ||
      !getGeomField(env, v, "width", 1, w) || !getGeomField(env, v, "size", 1, s) ||
      !getGeomField(env, v, "stride", 1, st) || !getGeomField(env, v, "padding", 0, p) ||
      !getGeomField(env, v, "outHeight", 1, oh) || !getGeomField(env, v, "outWidth", 1, ow))
    return false;
  g = PoolGeom{c, h, w, s, st, p, oh, ow};
  return true;
}

// The array must hold at least `need` elements (need < 0 means the size overflowed).
template <typename T>
bool checkLength(napi_env env, const char* name, const Typed<T>& arr, int64_t need, const char* what) {
  if (need < 0) return rangeError(env, std::string(name) + ": " + what + " is too large");
  if (arr.length < need)
    return rangeError(env, std::string(name) + " has " + std::to_string(arr.length) + " elements, " + what + " needs " +
                               std::to_string(need));
  return true;
}

enum class ConvOp { Forward, BackwardFilter, BackwardData };

// convForward(g, batch, input, weights, output)
// convBackwardFilter(g, batch, input, delta, weightGrad)
// convBackwardData(g, batch, delta, weights, inputDelta)
napi_value Conv(napi_env env, napi_callback_info info, ConvOp op) {
  Args a;
  if (!getArgs(env, info, 5, a)) return nullptr;
  ConvGeom g;
  int64_t batch;
  if (!getConvGeom(env, a.argv[0], g) || !getInt(env, a.argv[1], "batch", 0, kMaxDim, batch)) return nullptr;
  const int64_t inSize = product({batch, g.channels, g.height, g.width});
  const int64_t outSize = product({batch, g.filters, g.outHeight, g.outWidth});
  const int64_t wSize = product({g.filters, g.channels, g.size, g.size});
  // The native code works on one image's im2col matrix at a time (as the reference does).
  const int64_t colSize = product({g.channels, g.size, g.size, g.outHeight, g.outWidth});
  if (colSize < 0 || colSize > 0x7fffffff)
    return rangeError(env, "geometry: one image unfolds to more than 2^31-1 values (channels*size*size*outHeight*outWidth)"),
           nullptr;
  // The three arrays in argument order, the size each one needs and how that size is computed.
  const char* names[3];
  int64_t need[3];
  const char* what[3];
  const char* inWhat = "batch*channels*height*width";
  const char* outWhat = "batch*filters*outHeight*outWidth";
  const char* wWhat = "filters*channels*size*size";
  switch (op) {
    case ConvOp::Forward:
      names[0] = "input", names[1] = "weights", names[2] = "output";
      need[0] = inSize, need[1] = wSize, need[2] = outSize;
      what[0] = inWhat, what[1] = wWhat, what[2] = outWhat;
      break;
    case ConvOp::BackwardFilter:
      names[0] = "input", names[1] = "delta", names[2] = "weightGrad";
      need[0] = inSize, need[1] = outSize, need[2] = wSize;
      what[0] = inWhat, what[1] = outWhat, what[2] = wWhat;
      break;
    case ConvOp::BackwardData:
    default:
      names[0] = "delta", names[1] = "weights", names[2] = "inputDelta";
      need[0] = outSize, need[1] = wSize, need[2] = inSize;
      what[0] = outWhat, what[1] = wWhat, what[2] = inWhat;
      break;
  }
  Typed<float> arr[3];
  for (int i = 0; i < 3; i++)
    if (!getF32(env, a.argv[2 + i], names[i], arr[i])) return nullptr;
  for (int i = 0; i < 3; i++)
    if (!checkLength(env, names[i], arr[i], need[i], what[i])) return nullptr;
  if (batch == 0) return nullptr;
  Span out = spanOf(arr[2].data, 0, need[2]);
  for (int i = 0; i < 2; i++)
    if (!checkNoOverlap(env, out, names[2], spanOf(arr[i].data, 0, need[i]), names[i])) return nullptr;
  switch (op) {
    case ConvOp::Forward: convForward(g, batch, arr[0].data, arr[1].data, arr[2].data); break;
    case ConvOp::BackwardFilter: convBackwardFilter(g, batch, arr[0].data, arr[1].data, arr[2].data); break;
    case ConvOp::BackwardData: convBackwardData(g, batch, arr[0].data, arr[1].data, arr[2].data); break;
  }
  return nullptr;
}

napi_value ConvForward(napi_env env, napi_callback_info info) { return Conv(env, info, ConvOp::Forward); }
napi_value ConvBackwardFilter(napi_env env, napi_callback_info info) { return Conv(env, info, ConvOp::BackwardFilter); }
napi_value ConvBackwardData(napi_env env, napi_callback_info info) { return Conv(env, info, ConvOp::BackwardData); }

// maxpoolForward(g, batch, input, output, argmax)
napi_value MaxpoolForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 5, a)) return nullptr;
  PoolGeom g;
  int64_t batch;
  Typed<float> input, output;
  Typed<int32_t> argmax;
  if (!getPoolGeom(env, a.argv[0], g) || !getInt(env, a.argv[1], "batch", 0, kMaxDim, batch) ||
      !getF32(env, a.argv[2], "input", input) || !getF32(env, a.argv[3], "output", output) ||
      !getI32(env, a.argv[4], "argmax", argmax))
    return nullptr;
  const int64_t inSize = product({batch, g.channels, g.height, g.width});
  const int64_t outSize = product({batch, g.channels, g.outHeight, g.outWidth});
  if (!checkLength(env, "input", input, inSize, "batch*channels*height*width") ||
      !checkLength(env, "output", output, outSize, "batch*channels*outHeight*outWidth") ||
      !checkLength(env, "argmax", argmax, outSize, "batch*channels*outHeight*outWidth"))
    return nullptr;
  if (inSize > 0x7fffffff) return rangeError(env, "input has more than 2^31-1 elements: argmax cannot index it"), nullptr;
  if (batch == 0) return nullptr;
  Span si = spanOf(input.data, 0, inSize), so = spanOf(output.data, 0, outSize), sa = spanOf(argmax.data, 0, outSize);
  if (!checkNoOverlap(env, so, "output", si, "input") || !checkNoOverlap(env, sa, "argmax", si, "input") ||
      !checkNoOverlap(env, sa, "argmax", so, "output"))
    return nullptr;
  maxpoolForward(g, batch, input.data, output.data, argmax.data);
  return nullptr;
}

// maxpoolBackward(count, delta, argmax, inputDelta)
napi_value MaxpoolBackward(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 4, a)) return nullptr;
  int64_t count;
  Typed<float> delta, inputDelta;
  Typed<int32_t> argmax;
  if (!getInt(env, a.argv[0], "count", 0, kMaxExtent, count) || !getF32(env, a.argv[1], "delta", delta) ||
      !getI32(env, a.argv[2], "argmax", argmax) || !getF32(env, a.argv[3], "inputDelta", inputDelta))
    return nullptr;
  if (!checkLength(env, "delta", delta, count, "count") || !checkLength(env, "argmax", argmax, count, "count"))
    return nullptr;
  // Every target index is checked before anything is written.
  for (int64_t i = 0; i < count; i++) {
    if (argmax.data[i] >= inputDelta.length)
      return rangeError(env, "argmax[" + std::to_string(i) + "] = " + std::to_string(argmax.data[i]) +
                                 " is outside inputDelta (length " + std::to_string(inputDelta.length) + ")"),
             nullptr;
  }
  Span sd = spanOf(inputDelta.data, 0, inputDelta.length);
  if (!checkNoOverlap(env, sd, "inputDelta", spanOf(delta.data, 0, count), "delta") ||
      !checkNoOverlap(env, sd, "inputDelta", spanOf(argmax.data, 0, count), "argmax"))
    return nullptr;
  maxpoolBackward(count, delta.data, argmax.data, inputDelta.data);
  return nullptr;
}

bool getActivation(napi_env env, napi_value v, Act& out) {
  napi_valuetype t;
  char buf[16];
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
      napi_get_value_string_utf8(env, v, buf, sizeof(buf), &len) != napi_ok)
    return typeError(env, "activation must be a string");
  const std::string a(buf, len);
  if (a == "linear") out = Act::Linear;
  else if (a == "relu") out = Act::Relu;
  else if (a == "leaky") out = Act::Leaky;
  else if (a == "logistic") out = Act::Logistic;
  else return typeError(env, "activation must be one of linear, relu, leaky, logistic; got '" + a + "'");
  return true;
}

// biasActivate(x, biases, n, channels, spatial, activation)
napi_value BiasActivate(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 6, a)) return nullptr;
  Typed<float> x, biases;
  int64_t n, channels, spatial;
  Act act;
  if (!getF32(env, a.argv[0], "x", x) || !getF32(env, a.argv[1], "biases", biases) ||
      !getInt(env, a.argv[2], "n", 0, kMaxDim, n) || !getInt(env, a.argv[3], "channels", 0, kMaxDim, channels) ||
      !getInt(env, a.argv[4], "spatial", 0, kMaxDim, spatial) || !getActivation(env, a.argv[5], act))
    return nullptr;
  const int64_t count = product({n, channels, spatial});
  if (!checkLength(env, "x", x, count, "n*channels*spatial") || !checkLength(env, "biases", biases, channels, "channels"))
    return nullptr;
  if (count == 0) return nullptr;
  if (!checkNoOverlap(env, spanOf(x.data, 0, count), "x", spanOf(biases.data, 0, channels), "biases")) return nullptr;
  biasActivate(x.data, biases.data, n, channels, spatial, act);
  return nullptr;
}

// activationGradient(activation, output, delta, count)
napi_value ActivationGradient(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 4, a)) return nullptr;
  Act act;
  Typed<float> output, delta;
  int64_t count;
  if (!getActivation(env, a.argv[0], act) || !getF32(env, a.argv[1], "output", output) ||
      !getF32(env, a.argv[2], "delta", delta) || !getInt(env, a.argv[3], "count", 0, kMaxExtent, count))
    return nullptr;
  if (!checkLength(env, "output", output, count, "count") || !checkLength(env, "delta", delta, count, "count"))
    return nullptr;
  if (count == 0) return nullptr;
  if (!checkNoOverlap(env, spanOf(delta.data, 0, count), "delta", spanOf(output.data, 0, count), "output")) return nullptr;
  activationGradient(act, output.data, delta.data, count);
  return nullptr;
}

// biasGradient(biasUpdates, delta, n, channels, spatial)
napi_value BiasGradient(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 5, a)) return nullptr;
  Typed<float> updates, delta;
  int64_t n, channels, spatial;
  if (!getF32(env, a.argv[0], "biasUpdates", updates) || !getF32(env, a.argv[1], "delta", delta) ||
      !getInt(env, a.argv[2], "n", 0, kMaxDim, n) || !getInt(env, a.argv[3], "channels", 0, kMaxDim, channels) ||
      !getInt(env, a.argv[4], "spatial", 0, kMaxDim, spatial))
    return nullptr;
  const int64_t count = product({n, channels, spatial});
  if (!checkLength(env, "delta", delta, count, "n*channels*spatial") ||
      !checkLength(env, "biasUpdates", updates, channels, "channels"))
    return nullptr;
  if (channels == 0 || n == 0) return nullptr;
  if (!checkNoOverlap(env, spanOf(updates.data, 0, channels), "biasUpdates", spanOf(delta.data, 0, count), "delta"))
    return nullptr;
  biasGradient(updates.data, delta.data, n, channels, spatial);
  return nullptr;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, 1, a)) return nullptr;
  int64_t n;
  if (!getInt(env, a.argv[0], "threads", 1, 256, n)) return nullptr;
  setPoolThreads(static_cast<int>(n));
  return nullptr;
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, poolThreads(), &v);
  return v;
}

napi_value ParkThreads(napi_env, napi_callback_info) {
  parkPool();
  return nullptr;
}

// { isa: "avx2" | "generic", microKernels: ["avx2 6x16", ...] }
napi_value Info(napi_env env, napi_callback_info) {
  const KernelSet& ks = activeKernels();
  napi_value obj, isa, list;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, ks.isa, NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, obj, "isa", isa);
  napi_create_array_with_length(env, static_cast<size_t>(ks.count), &list);
  for (int i = 0; i < ks.count; i++) {
    napi_value s;
    napi_create_string_utf8(env, ks.kernels[i].name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, list, static_cast<uint32_t>(i), s);
  }
  napi_set_named_property(env, obj, "microKernels", list);
  return obj;
}

}  // namespace
}  // namespace layerlock

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace layerlock;
  napi_property_descriptor props[] = {
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardFilter", nullptr, ConvBackwardFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxpoolForward", nullptr, MaxpoolForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxpoolBackward", nullptr, MaxpoolBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"biasActivate", nullptr, BiasActivate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"activationGradient", nullptr, ActivationGradient, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"biasGradient", nullptr, BiasGradient, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"parkThreads", nullptr, ParkThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"shmCreate", nullptr, ShmCreate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"shmMap", nullptr, ShmMap, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"shmRelease", nullptr, ShmRelease, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"doorbellRing", nullptr, DoorbellRing, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"doorbellWait", nullptr, DoorbellWait, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"processExit", nullptr, ProcessExit, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return exports;
}
