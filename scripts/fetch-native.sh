#!/usr/bin/env bash
# Fetches the pinned llama.cpp build (0.5.0-dev, as shipped in node-llama-cpp 3.22.1) with `npm pack`,
# checks each tarball against its npm sha512 integrity in native/INTEGRITY (all packages) and its sha256 in
# native/SHA256SUMS (where pinned), and unpacks into native/<flavour>/ (git-ignored).
#
#   scripts/fetch-native.sh            CPU build  -> native/linux-x64/        (+ Llama-3 BPE vocab for `synth --preset 2b`)
#   scripts/fetch-native.sh cuda       CUDA 13    -> native/linux-x64-cuda/
#   scripts/fetch-native.sh cuda12     CUDA 13 libllama/libggml + CUDA 12 libggml-cuda.so (cuda-ext fallback)
#
# Idempotent: a flavour whose folder already holds a .complete marker is left alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flavour="${1:-cpu}"
version=3.22.1
sums="$root/native/SHA256SUMS"
integrity="$root/native/INTEGRITY"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() { # npm package name -> path of the verified tarball
  local pkg="$1" file
  file="$(echo "$pkg" | sed 's/^@//; s#/#-#')-$version.tgz"
  if [ -n "${YOUTU_NPM_CACHE:-}" ] && [ -f "$YOUTU_NPM_CACHE/$file" ]; then
    cp "$YOUTU_NPM_CACHE/$file" "$work/$file"
  else
    (cd "$work" && npm pack --silent "$pkg@$version" >/dev/null)
  fi
  local want got
  # sha512 from npm's `dist.integrity` ("sha512-<base64>"): pinned for every package, so a tarball is never unchecked.
  want="$(awk -v f="$file" '$2==f {print $1}' "$integrity")"
  if [ -z "$want" ]; then echo "fetch-native: no pinned integrity for $file in native/INTEGRITY" >&2; exit 1; fi
  want="$(printf '%s' "${want#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
  got="$(sha512sum "$work/$file" | cut -d' ' -f1)"
  if [ "$want" != "$got" ]; then echo "fetch-native: sha512 mismatch for $file: expected $want, got $got" >&2; exit 1; fi
  # sha256 in addition, where native/SHA256SUMS pins the file.
  want="$(awk -v f="$file" '$2==f {print $1}' "$sums")"
  if [ -n "$want" ]; then
    got="$(sha256sum "$work/$file" | cut -d' ' -f1)"
    if [ "$want" != "$got" ]; then echo "fetch-native: sha256 mismatch for $file: expected $want, got $got" >&2; exit 1; fi
  fi
  echo "$work/$file"
}

case "$flavour" in
  cpu)
    dest="$root/native/linux-x64"
    [ -f "$dest/.complete" ] && exit 0
    echo "fetch-native: fetching @node-llama-cpp/linux-x64@$version (llama.cpp 0.5.0-dev, CPU)" >&2
    tgz="$(fetch @node-llama-cpp/linux-x64)"
    mkdir -p "$work/cpu" && tar xzf "$tgz" -C "$work/cpu"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    cp "$work/cpu/package/bins/linux-x64/"*.so "$work/cpu/package/bins/linux-x64/_nlcBuildMetadata.json" "$dest.tmp/"
    # The matching llama.cpp source ships as a git bundle in node-llama-cpp; we keep its header (for reference and
    # the layout tests) and its Llama-3 BPE vocabulary (128,256 tokens, imported by `synth --preset 2b`).
    echo "fetch-native: fetching node-llama-cpp@$version (source bundle: llama.h, Llama-3 vocabulary)" >&2
    src="$(fetch node-llama-cpp)"
    mkdir -p "$work/src" && tar xzf "$src" -C "$work/src" package/llama/gitRelease.bundle
    git clone -q "$work/src/package/llama/gitRelease.bundle" "$work/llama.cpp" 2>/dev/null
    cp "$work/llama.cpp/include/llama.h" "$work/llama.cpp/models/ggml-vocab-llama-bpe.gguf" "$dest.tmp/"
    (cd "$work/llama.cpp" && git rev-parse HEAD) > "$dest.tmp/llama.cpp.commit"
    touch "$dest.tmp/.complete"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
    ;;
  cuda|cuda12)
    dest="$root/native/linux-x64-cuda"
    [ -f "$dest/.complete" ] && [ "$(cat "$dest/.flavour" 2>/dev/null)" = "$flavour" ] && exit 0
    echo "fetch-native: fetching @node-llama-cpp/linux-x64-cuda@$version (CUDA 13)" >&2
    tgz="$(fetch @node-llama-cpp/linux-x64-cuda)"
    mkdir -p "$work/cuda" && tar xzf "$tgz" -C "$work/cuda"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    cp "$work/cuda/package/bins/linux-x64-cuda/"*.so "$work/cuda/package/bins/linux-x64-cuda/_nlcBuildMetadata.json" "$dest.tmp/"
    if [ "$flavour" = cuda12 ]; then
      echo "fetch-native: fetching @node-llama-cpp/linux-x64-cuda-ext@$version (CUDA 12 fallback backend)" >&2
      ext="$(fetch @node-llama-cpp/linux-x64-cuda-ext)"
      mkdir -p "$work/ext" && tar xzf "$ext" -C "$work/ext"
      cp "$work/ext/package/bins/linux-x64-cuda/fallback/libggml-cuda.so" "$dest.tmp/libggml-cuda.so"
    fi
    echo "$flavour" > "$dest.tmp/.flavour"
    touch "$dest.tmp/.complete"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
    ;;
  *) echo "usage: scripts/fetch-native.sh [cpu|cuda|cuda12]" >&2; exit 2 ;;
esac
