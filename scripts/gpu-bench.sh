#!/usr/bin/env bash
# YoutuServer vs llama-server on one CUDA box, in one call, from two carried files (no .NET, no internet there).
#
#   On the dev box (needs the .NET SDK and npm):
#     scripts/gpu-bench.sh --pack                 -> .cache/gpu-bench/{youtu-publish.tar.xz,llama-src.tar.gz} (<= 60 MB)
#   On the GPU box (needs cmake, ninja, nvcc, a C++ compiler, curl-free; python3 optional):
#     scripts/gpu-bench.sh [--arch 90-real] [--out DIR]
#   Anywhere, without a GPU (tiny model, tiny sizes, CPU llama-server; no CUDA build):
#     scripts/gpu-bench.sh --cpu-dry-run [--llama-server PATH]
#
# Phases, each bounded by its own fixed time limit (not a share of a budget), each skipped when its output exists
# (a second call on the same box rebuilds and re-synthesizes nothing; the publish is unpacked again only when the
# carried pack changed, and a dry run publishes again only when src/ changed):
#   unpack 60 s | build libggml-cuda.so + llama-server 330 s | synth 2b q8_0 90 s | bench engine greedy, thinking
#   75 s each | per server: start 60 s, then chat with the server's default sampling and greedy completions at 1, 8,
#   32 and 64 streams, 25 s each.
# Worst case on the H200 with a cold build: ~11 min; warm (built, synthesized): ~5 min; the first run's build is
# ~150 s on 16 cores, so a cold run fits 8 minutes when nothing else is running. A phase that runs out of time is
# recorded as such in the summary and the next phase goes on.
#
# Output: one summary file, $OUT/gpu-bench-summary.md (OUT: --out, else $OUT from the device tool, else
# .cache/gpu-bench-work/out), with every exact command, its time and its table; logs beside it.
# Device tool: run(command="scripts/gpu-bench.sh --arch 90-real", carry=[".cache/gpu-bench"], timeout_s=600);
# builds and the model stay in .cache/gpu-bench-work on that machine while it is warm.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/gpu-bench"
arch=90-real dry=0 pack=0 out="${OUT:-}" server_bin="" threads="" cpu_cores="$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) pack=1; shift ;;
    --cpu-dry-run) dry=1; shift ;;
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --llama-server) server_bin="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$cache"

# ---------------------------------------------------------------- pack (dev box)
if [ "$pack" = 1 ]; then
  set -e
  pub="$cache/pack/publish"
  rm -rf "$cache/pack" && mkdir -p "$pub"
  dotnet publish "$root/src/YoutuServer" -c Release -r linux-x64 --self-contained -o "$pub" -p:DebugType=none >&2
  # What a benchmark never loads: debugger/diagnostic runtime parts and CPU variants no GPU host needs.
  rm -f "$pub"/{libmscordbi.so,libmscordaccore.so,createdump,libclrgcexp.so,libclrgc.so,libcoreclrtraceptprovider.so}
  for v in "$pub"/llama/libggml-cpu-*.so; do
    case "$(basename "$v")" in
      libggml-cpu-x64.so|libggml-cpu-haswell.so|libggml-cpu-skylakex.so|libggml-cpu-icelake.so|libggml-cpu-sapphirerapids.so|libggml-cpu-zen4.so) ;;
      *) rm -f "$v" ;;
    esac
  done
  [ -f "$pub/llama/ggml-vocab-llama-bpe.gguf" ] || { echo "gpu-bench: the publish lacks llama/ggml-vocab-llama-bpe.gguf" >&2; exit 1; }
  tar cf - -C "$cache/pack" publish | xz -T0 -6 > "$cache/youtu-publish.tar.xz.tmp"
  mv "$cache/youtu-publish.tar.xz.tmp" "$cache/youtu-publish.tar.xz"
  cp "$("$root/scripts/llama-source.sh")" "$cache/llama-src.tar.gz"
  rm -rf "$cache/pack"
  total=$(( $(stat -c %s "$cache/youtu-publish.tar.xz") + $(stat -c %s "$cache/llama-src.tar.gz") ))
  echo "gpu-bench: packed $(( total / 1048576 )) MiB: $cache/youtu-publish.tar.xz, $cache/llama-src.tar.gz" >&2
  [ "$total" -le $(( 60 * 1048576 )) ] || { echo "gpu-bench: over 60 MB" >&2; exit 1; }
  exit 0
fi

# ---------------------------------------------------------------- run
[ -n "$out" ] || out="$root/.cache/gpu-bench-work/out"
mkdir -p "$out"
summary="$out/gpu-bench-summary.md"
# Outside the carried .cache/gpu-bench (the device tool replaces carried paths on every call), so builds survive.
work="$root/.cache/gpu-bench-work"
mkdir -p "$work"
t0=$(date +%s)
note() { echo "$*" >> "$summary"; echo "gpu-bench: $*" >&2; }
# phase NAME LIMIT_S CMD...: runs CMD under a fixed time limit, logs it, records its command, time and status.
phase() {
  local name="$1" limit="$2"; shift 2
  local log="$out/$name.log" s=$(date +%s) rc
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1; rc=$?
  local took=$(( $(date +%s) - s ))
  case "$rc" in
    0) note "- **$name**: ok in ${took} s (limit ${limit} s): \`$*\`" ;;
    124|137) note "- **$name**: TIMED OUT after ${limit} s: \`$*\`" ;;
    *) note "- **$name**: FAILED (exit $rc) after ${took} s: \`$*\` — last lines: $(tail -3 "$log" | tr '\n' ' ' | cut -c1-400)" ;;
  esac
  return "$rc"
}

{
  echo "# gpu-bench $(date -u +%FT%TZ)$( [ "$dry" = 1 ] && echo ' — CPU DRY RUN (tiny model, tiny sizes, no CUDA; figures mean nothing)')"
  echo
  echo "- host: $(uname -n), $cpu_cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  if command -v nvidia-smi >/dev/null; then echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"; fi
  if command -v nvcc >/dev/null; then echo "- nvcc: $(nvcc --version | tail -2 | head -1)"; fi
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "## Phases"
} > "$summary"

# 1. the publish: unpacked (a dry run with .NET and no pack: published) once per version of what it comes from
pub="$work/publish"
if [ -f "$cache/youtu-publish.tar.xz" ]; then
  stamp="pack $(sha256sum < "$cache/youtu-publish.tar.xz" | cut -c1-16)"
elif [ "$dry" = 1 ] && command -v dotnet >/dev/null; then
  stamp="src $(cd "$root" && { git rev-parse HEAD; git diff HEAD -- src; git ls-files --others --exclude-standard src; } 2>/dev/null | sha256sum | cut -c1-16)"
else
  stamp=""
fi
if [ ! -x "$pub/youtu-server" ] || { [ -n "$stamp" ] && [ "$(cat "$work/publish.stamp" 2>/dev/null)" != "$stamp" ]; }; then
  rm -rf "$pub" "$work/publish.stamp"
  case "$stamp" in
    pack*) phase unpack 60 tar xJf "$cache/youtu-publish.tar.xz" -C "$work" ;;
    src*) phase publish 600 dotnet publish "$root/src/YoutuServer" -c Release -r linux-x64 --self-contained -o "$pub" -p:DebugType=none ;;
  esac
  [ -x "$pub/youtu-server" ] && echo "$stamp" > "$work/publish.stamp"
fi
[ -x "$pub/youtu-server" ] || { note "- no publish at $pub (run scripts/gpu-bench.sh --pack and carry .cache/gpu-bench)"; exit 1; }
ys="$pub/youtu-server"

# 2. the CUDA backend (into the publish's llama/ folder) and llama-server, from the same pinned source
src="$cache/llama-src.tar.gz"
[ -f "$src" ] || src="$("$root/scripts/llama-source.sh" 2>/dev/null || true)"
if [ "$dry" = 1 ]; then
  gpu_layers=0
  if [ -z "$server_bin" ] && [ -n "$src" ]; then
    phase build-llama-server-cpu 330 "$root/scripts/build-cuda-backend.sh" --cpu-dry-run --llama-server --src "$src" --build-dir "$work/build"
    server_bin="$work/build/bin/llama-server"
  fi
else
  gpu_layers=999
  phase build-cuda 330 "$root/scripts/build-cuda-backend.sh" --arch "$arch" --src "$src" --build-dir "$work/build" --out "$pub/llama" --llama-server
  [ -n "$server_bin" ] || server_bin="$work/build/bin/llama-server"
fi

# 3. the model
if [ "$dry" = 1 ]; then
  model="$work/tiny.gguf"; preset=tiny; quant=f32
  par=1,2 streams="1 2" tokens=8 prompt=16 ctx=2048 np=4
else
  model="$work/youtu2b-q8_0.gguf"; preset=2b; quant=q8_0
  par=1,8,32,64 streams="1 8 32 64" tokens=128 prompt=64 ctx=16384 np=64
fi
[ -n "$threads" ] || threads=$(( cpu_cores < 8 ? cpu_cores : 8 ))
[ -s "$model" ] || phase synth 90 "$ys" synth --preset "$preset" --quant "$quant" --out "$model"

# 4. engine: raw llama.cpp loop vs scheduler, greedy (arg-max both sides) and Youtu's thinking preset
echo >> "$summary"; echo "## bench engine" >> "$summary"
for sampling in greedy thinking; do
  phase "engine-$sampling" 75 "$ys" bench engine --model "$model" --parallel "$par" --tokens "$tokens" --prompt "$prompt" \
    --threads "$threads" --sampling "$sampling" --repeat 1
  { echo; echo "### $sampling"; grep -E '^\|' "$out/engine-$sampling.log"; } >> "$summary"
done

# 5. over HTTP, the same client against both servers
http_get() { # host port path: body of a GET (curl when present, else bash's /dev/tcp)
  if command -v curl >/dev/null; then curl -sf "http://$1:$2$3"; return; fi
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  local resp; resp="$(cat <&3)"; exec 3>&-
  case "$resp" in "HTTP/1."?" 200"*) printf '%s' "${resp#*$'\r\n\r\n'}" ;; *) return 1 ;; esac
}
wait_ready() { # port, pid, limit
  local i
  for i in $(seq 1 "$3"); do
    http_get 127.0.0.1 "$1" /health >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}
run_server_bench() { # name url
  local name="$1" url="$2" n
  echo >> "$summary"; echo "## bench serve: $name" >> "$summary"
  for n in $streams; do
    phase "serve-$name-chat-$n" 25 "$ys" bench serve --url "$url" --endpoint chat --temperature default --scenarios load \
      --concurrency "$n" --requests $(( n * 2 )) --prompt-tokens "$prompt" --max-tokens "$tokens" --no-progress --timeout 20
    { echo; echo "### chat, server's default sampling, $n streams"; grep -E '^\|' "$out/serve-$name-chat-$n.log" | head -8; } >> "$summary"
    phase "serve-$name-greedy-$n" 25 "$ys" bench serve --url "$url" --endpoint completions --temperature 0 --scenarios load \
      --concurrency "$n" --requests $(( n * 2 )) --prompt-tokens "$prompt" --max-tokens "$tokens" --no-progress --timeout 20
    { echo; echo "### completions, greedy, $n streams"; grep -E '^\|' "$out/serve-$name-greedy-$n.log" | head -8; } >> "$summary"
  done
}

port=18080
"$ys" serve --model "$model" --host 127.0.0.1 --port "$port" --parallel "$np" --ctx-size "$ctx" --threads "$threads" \
  --gpu-layers "$gpu_layers" > "$out/youtu-server.log" 2>&1 &
pid=$!
note "- youtu-server: \`$ys serve --model $model --port $port --parallel $np --ctx-size $ctx --threads $threads --gpu-layers $gpu_layers\`"
if wait_ready "$port" "$pid" 60; then
  note "- youtu-server /health: $(http_get 127.0.0.1 "$port" /health)"
  run_server_bench youtu-server "http://127.0.0.1:$port"
else
  note "- youtu-server did not become ready in 60 s: $(tail -3 "$out/youtu-server.log" | tr '\n' ' ' | cut -c1-400)"
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null

if [ -x "$server_bin" ]; then
  port=18081
  "$server_bin" -m "$model" --host 127.0.0.1 --port "$port" -np "$np" -c "$ctx" -t "$threads" -ngl "$gpu_layers" --kv-unified \
    --jinja > "$out/llama-server.log" 2>&1 &
  pid=$!
  note "- llama-server: \`$server_bin -m $model --port $port -np $np -c $ctx -t $threads -ngl $gpu_layers --kv-unified --jinja\`"
  if wait_ready "$port" "$pid" 60; then
    run_server_bench llama-server "http://127.0.0.1:$port"
  else
    note "- llama-server did not become ready in 60 s: $(tail -3 "$out/llama-server.log" | tr '\n' ' ' | cut -c1-400)"
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
else
  note "- llama-server: not built ($server_bin missing), comparison skipped"
fi

note ""
note "total: $(( $(date +%s) - t0 )) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$summary"
