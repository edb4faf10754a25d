#!/usr/bin/env bash
# The pinned llama.cpp source (commit in native/linux-x64/llama.cpp.commit, as bundled in npm node-llama-cpp@3.22.1,
# plus node-llama-cpp's one loader patch), pruned to what the CUDA backend and llama-server need, as one tarball small
# enough to carry to a GPU box (~5 MB).
#
#   scripts/llama-source.sh [OUT.tar.gz]       default: .cache/llama-src-<commit>.tar.gz
#
# Needs npm (or YOUTU_NPM_CACHE holding node-llama-cpp-3.22.1.tgz) and git. Idempotent: an existing tarball is kept.
# The npm tarball is checked against its sha512 in native/INTEGRITY, and the commit against the pinned one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="$(cat "$root/native/linux-x64/llama.cpp.commit" 2>/dev/null || echo de3ff815ea7d559ee917f063901b8986f038abc6)"
out="${1:-$root/.cache/llama-src-${commit:0:8}.tar.gz}"
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

file=node-llama-cpp-3.22.1.tgz
if [ -n "${YOUTU_NPM_CACHE:-}" ] && [ -f "$YOUTU_NPM_CACHE/$file" ]; then
  cp "$YOUTU_NPM_CACHE/$file" "$work/$file"
else
  (cd "$work" && npm pack --silent node-llama-cpp@3.22.1 >/dev/null)
fi
want="$(awk -v f="$file" '$2==f {print $1}' "$root/native/INTEGRITY")"
want="$(printf '%s' "${want#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
got="$(sha512sum "$work/$file" | cut -d' ' -f1)"
[ "$want" = "$got" ] || { echo "llama-source: sha512 mismatch for $file" >&2; exit 1; }

tar xzf "$work/$file" -C "$work" package/llama/gitRelease.bundle package/llama/patches
git clone -q "$work/package/llama/gitRelease.bundle" "$work/llama.cpp" 2>/dev/null
(cd "$work/llama.cpp" && git checkout -q "$commit")
[ "$(cd "$work/llama.cpp" && git rev-parse HEAD)" = "$commit" ] || { echo "llama-source: bundle is not at $commit" >&2; exit 1; }
for p in "$work"/package/llama/patches/*.diff; do (cd "$work/llama.cpp" && git apply "$p"); done

src="$work/llama.cpp"
dst="$work/llama-src"
mkdir -p "$dst/ggml/src" "$dst/tools/ui" "$dst/scripts"
cp -r "$src"/{CMakeLists.txt,LICENSE,cmake,include,src,common,vendor,licenses} "$dst/" 2>/dev/null || true
cp -r "$src"/ggml/{CMakeLists.txt,cmake,include} "$dst/ggml/"
# ggml sources: the core, the CPU and CUDA backends; other backends are only entered when enabled.
find "$src/ggml/src" -maxdepth 1 -type f -exec cp {} "$dst/ggml/src/" \;
cp -r "$src/ggml/src/ggml-cpu" "$src/ggml/src/ggml-cuda" "$dst/ggml/src/"
# llama-server and what it links (mtmd; the UI target, built without assets: no network needed).
cp -r "$src/tools/server" "$src/tools/mtmd" "$dst/tools/"
cp "$src"/tools/ui/{CMakeLists.txt,ui.cpp.in,ui.h.in,sources.cmake} "$dst/tools/ui/"
cp "$src/scripts/ui-assets.cmake" "$dst/scripts/" 2>/dev/null || true
cp "$src/scripts/build-info.sh" "$dst/scripts/" 2>/dev/null || true
rm -rf "$dst/tools/server/tests" "$dst/tools/server/bench" "$dst/tools/mtmd/tests"
cat > "$dst/tools/CMakeLists.txt" <<'EOF'
# Pruned by YoutuServer scripts/llama-source.sh: only llama-server and what it links.
find_package(Threads REQUIRED)
llama_add_compile_flags()
add_subdirectory(mtmd)
if (LLAMA_BUILD_SERVER)
    add_subdirectory(ui)
    add_subdirectory(server)
endif()
EOF
echo "$commit" > "$dst/COMMIT"
tar czf "$out.tmp" -C "$work" llama-src
mv "$out.tmp" "$out"
echo "llama-source: $(du -h "$out" | cut -f1) $out" >&2
echo "$out"
