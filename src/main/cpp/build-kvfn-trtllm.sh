#!/usr/bin/env bash
# Builds the real libkvfn_trtllm.so (kvfn's C ABI over TensorRT-LLM's Executor) into the directory given (./mvnw -Ptrtllm
# calls it with target/native). Needs, as in NVIDIA's TensorRT-LLM release container:
#   TRTLLM_ROOT  a TensorRT-LLM checkout or install: headers in $TRTLLM_ROOT/cpp/include (or include/), libraries
#                (libtensorrt_llm.so, libnvinfer_plugin_tensorrt_llm.so) in $TRTLLM_LIB (default: $TRTLLM_ROOT/lib, or
#                the wheel's tensorrt_llm/libs)
#   CUDA_HOME    the CUDA toolkit (default /usr/local/cuda); TensorRT's headers on the default include path or in TRT_INCLUDE
#   KVFN_TRTLLM_FLAGS  extra flags, e.g. -DKVFN_TRTLLM_CACHE_SALT for a release with Request::setCacheSaltID
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build-kvfn-trtllm.sh <output dir>}"
: "${TRTLLM_ROOT:?set TRTLLM_ROOT to TensorRT-LLM (see README, TensorRT-LLM engine)}"
include="$TRTLLM_ROOT/cpp/include"; [ -d "$include" ] || include="$TRTLLM_ROOT/include"
lib="${TRTLLM_LIB:-$TRTLLM_ROOT/lib}"; [ -d "$lib" ] || lib="$TRTLLM_ROOT/tensorrt_llm/libs"
cuda="${CUDA_HOME:-/usr/local/cuda}"
mkdir -p "$out"
set -x
g++ -std=c++17 -O2 -fPIC -shared -pthread -Wall -Wextra ${KVFN_TRTLLM_FLAGS:-} \
    -I"$here" -I"$include" -I"$cuda/include" ${TRT_INCLUDE:+-I"$TRT_INCLUDE"} \
    -Wl,-soname,libkvfn_trtllm.so -o "$out/libkvfn_trtllm.so" "$here/kvfn_trtllm.cpp" \
    -L"$lib" -Wl,-rpath,"$lib" -ltensorrt_llm -lnvinfer_plugin_tensorrt_llm
