#!/usr/bin/env bash
# Builds libggml-cuda.so from the pinned llama.cpp source as a *dynamic backend* that the npm CPU set in
# native/linux-x64 (and every build output's llama/ folder) loads next to its own libggml-base.so.
#
#   scripts/build-cuda-backend.sh [--arch 90-real] [--src TARBALL|DIR] [--build-dir DIR] [--out DIR]
#                                 [--jobs N] [--fa-all] [--llama-server] [--cpu-dry-run]
#
#   --arch        CMAKE_CUDA_ARCHITECTURES (default 90-real: H100/H200; 89-real L4/L40, 80-real A100, "native")
#   --src         the source: a tarball from scripts/llama-source.sh, or an unpacked tree (default: run that script)
#   --build-dir   kept between calls; a configured, built tree is reused: nothing already built is rebuilt
#                 (default .cache/cuda-build)
#   --out         where libggml-cuda.so goes (default native/linux-x64, beside the npm libggml-base.so)
#   --fa-all      flash-attention kernels for every KV quantization (default: f16 only, GGML_CUDA_FA_QUANTS=f16-f16,
#                 which is what the server uses and cuts the build to ~150 steps)
#   --llama-server  also build llama-server (CUDA, static) from the same source into BUILD_DIR/bin, for comparisons
#   --cpu-dry-run   no CUDA: configure and build llama-server for the CPU only (checks the source and the flags
#                 on a machine without nvcc); libggml-cuda.so is not produced
#
# Why these flags (research/gpu.md): GGML_BACKEND_DL=ON makes a loadable module; GGML_NATIVE=OFF is required with
# it; CMAKE_PLATFORM_NO_VERSIONED_SONAME=ON makes it ask for libggml-base.so (not .so.0), so it binds to the npm copy
# instead of loading a second ggml. On the H200 box (16 cores) the 151 ninja steps took 148 s.
# The Docker image keeps using the npm CUDA packages (scripts/fetch-native.sh cuda); this is for boxes that cannot.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
arch=90-real src="" build="$root/.cache/cuda-build" out="$root/native/linux-x64" jobs="$(nproc)" fa=f16-f16
server=0 dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --src) src="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --fa-all) fa=""; shift ;;
    --llama-server) server=1; shift ;;
    --cpu-dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "build-cuda-backend: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "build-cuda-backend: $*" >&2; }

[ -n "$src" ] || src="$("$root/scripts/llama-source.sh")"
mkdir -p "$build"
build="$(cd "$build" && pwd)"
if [ -f "$src" ]; then
  # Unpack once; the tarball's sha256 names the tree so a different source never mixes with an old build.
  sum="$(sha256sum "$src" | cut -c1-12)"
  tree="$build/src-$sum"
  if [ ! -f "$tree/.unpacked" ]; then
    rm -rf "$tree" && mkdir -p "$tree"
    tar xzf "$src" -C "$tree" --strip-components=1
    touch "$tree/.unpacked"
  fi
  src="$tree"
fi
[ -f "$src/CMakeLists.txt" ] || { echo "build-cuda-backend: $src is not a llama.cpp source tree" >&2; exit 1; }

common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF)

configure() { # dir, args...: configure only when the directory has no cache for exactly these arguments
  local dir="$1"; shift
  local want; want="$(printf '%s\n' "$src" "$@" | sha256sum | cut -c1-16)"
  if [ -f "$dir/CMakeCache.txt" ] && [ "$(cat "$dir/.youtu-args" 2>/dev/null)" = "$want" ]; then
    log "reusing configured $dir"
    return
  fi
  rm -rf "$dir"
  log "cmake -S $src -B $dir $*"
  cmake -S "$src" -B "$dir" "$@" >"$dir.configure.log" 2>&1 || { tail -30 "$dir.configure.log" >&2; exit 1; }
  echo "$want" > "$dir/.youtu-args"
}

if [ "$dry" = 1 ]; then
  log "CPU dry run: no CUDA build (the CUDA configure would add -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$arch ${fa:+-DGGML_CUDA_FA_QUANTS=$fa})"
  if [ "$server" = 1 ]; then
    configure "$build/cpu" "${common[@]}" -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
    ninja -C "$build/cpu" -j "$jobs" llama-server >&2
    mkdir -p "$build/bin" && cp "$build/cpu/bin/llama-server" "$build/bin/llama-server"
    log "llama-server (CPU) -> $build/bin/llama-server"
  fi
  exit 0
fi

command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "build-cuda-backend: nvcc not found (install the CUDA toolkit or use --cpu-dry-run)" >&2; exit 1; }
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"

# One tree for both targets, so the CUDA kernels compile once: the dynamic backend (shared, against an unversioned
# libggml-base.so) and, when asked, llama-server linked to this tree's own libllama/libggml (it loads the same module).
configure "$build/cuda" "${common[@]}" -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF \
  -DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" ${fa:+-DGGML_CUDA_FA_QUANTS=$fa} \
  -DGGML_CUDA_NCCL=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
start=$(date +%s)
ninja -C "$build/cuda" -j "$jobs" ggml-cuda >&2
lib="$(find "$build/cuda" -name 'libggml-cuda.so' -type f | head -1)"
[ -n "$lib" ] || { echo "build-cuda-backend: ninja finished but libggml-cuda.so is missing" >&2; exit 1; }
if readelf -d "$lib" | grep -q 'libggml-base.so\.[0-9]'; then
  echo "build-cuda-backend: $lib asks for a versioned libggml-base (CMAKE_PLATFORM_NO_VERSIONED_SONAME ignored?)" >&2; exit 1
fi
mkdir -p "$out"
if ! cmp -s "$lib" "$out/libggml-cuda.so"; then
  cp "$lib" "$out/libggml-cuda.so.tmp" && mv "$out/libggml-cuda.so.tmp" "$out/libggml-cuda.so"
fi
log "libggml-cuda.so ($(stat -c %s "$lib") bytes, arch $arch, FA ${fa:-all}) -> $out in $(( $(date +%s) - start )) s"

if [ "$server" = 1 ]; then
  ninja -C "$build/cuda" -j "$jobs" llama-server ggml-cpu >&2
  mkdir -p "$build/bin" && ln -sf "$build/cuda/bin/llama-server" "$build/bin/llama-server"
  log "llama-server (CUDA, same source) -> $build/bin/llama-server"
fi
