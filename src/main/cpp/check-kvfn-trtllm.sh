#!/usr/bin/env bash
# Compile check of kvfn_trtllm.cpp against real TensorRT-LLM headers, without a GPU or TensorRT-LLM's libraries:
#   src/main/cpp/check-kvfn-trtllm.sh <TensorRT-LLM cpp/include> <CUDA include> [<TensorRT include>] [extra g++ flags...]
# e.g. src/main/cpp/check-kvfn-trtllm.sh /work/trtllm-headers/cpp/include /usr/local/cuda/include /work/trt-headers/include
# Keep fetched headers outside the repository. Prints the command it runs and g++'s verdict.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { sed -n '2,5p' "$0"; exit 2; }
trtllm="$1"; cuda="$2"; shift 2
includes=(-I"$here" -I"$trtllm" -I"$cuda")
if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then includes+=(-I"$1"); shift; fi
cmd=(g++ -std=c++17 -fsyntax-only -Wall -Wextra "${includes[@]}" "$@" "$here/kvfn_trtllm.cpp")
echo "${cmd[*]}"
"${cmd[@]}" && echo "kvfn_trtllm.cpp: syntax and types check out against these headers"
