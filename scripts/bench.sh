#!/usr/bin/env bash
# Regenerates the serve-benchmark table of docs/benchmarks.md: `youtu-server bench serve --model` on the 2b-shaped Q4_K_M
# model (synthesized first when absent, ~5 min), which runs the raw llama.cpp baseline and the in-process server
# on the same file and threads in one run.
#
#   scripts/bench.sh                 full run on models/youtu2b-q4_k_m.gguf; updates docs/benchmarks.md between
#                                    <!-- bench-serve:begin --> and <!-- bench-serve:end --> when both are there
#   scripts/bench.sh --tiny          the same pipeline on the tiny synthesized model (seconds; docs untouched)
#   scripts/bench.sh -- ARGS...      extra options for `bench serve` (e.g. -- --threads 8 --repeats 5)
#
# Environment: MODEL (model file), OUT (results folder, default artifacts/bench-results), THREADS (llama.cpp
# threads of both the raw baseline and the server; default: cores - 2, at least 1, because the load generator and
# Kestrel run on the same machine and a llama.cpp thread that loses its core stalls every step), CONFIG (Release),
# SKIP_BUILD=1 (use the existing build).
set -euo pipefail
cd "$(dirname "$0")/.."
invocation="scripts/bench.sh${*:+ $*}"

tiny=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny) tiny=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: scripts/bench.sh [--tiny] [-- bench-serve-options...]" >&2; exit 2 ;;
  esac
done

config="${CONFIG:-Release}"
out="${OUT:-artifacts/bench-results}"
threads="${THREADS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}"
mkdir -p "$out"
bin="artifacts/bench-build/bin/YoutuServer/${config,,}/youtu-server"
if [[ "${SKIP_BUILD:-0}" != 1 || ! -x "$bin" ]]; then
  echo "bench.sh: building youtu-server ($config)" >&2
  dotnet build src/YoutuServer -c "$config" --artifacts-path artifacts/bench-build -v quiet -nologo >&2
fi

if [[ $tiny == 1 ]]; then
  model="${MODEL:-$out/tiny.gguf}"
  [[ -f "$model" ]] || "$bin" synth --preset tiny --out "$model" >&2
  args=(--concurrency 8 --requests 32 --prompt-tokens 32,128 --max-tokens 16,64
        --ratio-prompt 128 --ratio-tokens 64 --repeats 2 --ttft-requests 10 --prefix-tokens 2000 --prefix-repeats 2)
else
  model="${MODEL:-models/youtu2b-q4_k_m.gguf}"
  if [[ ! -f "$model" ]]; then
    echo "bench.sh: $model is absent; synthesizing the 2b-shaped Q4_K_M model (~5 min)" >&2
    "$bin" synth --preset 2b --quant q4_k_m --out "$model" >&2
  fi
  # Sized to finish in about 20 minutes on a 2-core box (prompt evaluation there runs at ~30-55 tok/s);
  # pass larger values after -- on a bigger machine.
  args=(--concurrency 8 --requests 32 --prompt-tokens 128,256 --max-tokens 64,128
        --ratio-prompt 128 --ratio-tokens 128 --repeats 3 --ttft-requests 10 --prefix-tokens 2000 --prefix-repeats 2)
fi

args=(--model "$model" --threads "$threads" --parallel 8 --seed 1 "${args[@]}" --json "$out/bench-serve.json" "${extra[@]}")
echo "bench.sh: youtu-server bench serve ${args[*]}" >&2
set +e
"$bin" bench serve "${args[@]}" > "$out/bench-serve.md"
rc=$?
set -e
{
  echo
  echo "Command: \`$invocation\` → \`youtu-server bench serve ${args[*]}\`"
  echo "Host: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
} >> "$out/bench-serve.md"
cat "$out/bench-serve.md"

if [[ $tiny == 0 ]] && grep -q '<!-- bench-serve:begin -->' docs/benchmarks.md && grep -q '<!-- bench-serve:end -->' docs/benchmarks.md; then
  python3 - "$out/bench-serve.md" <<'PY'
import re, sys
table = open(sys.argv[1], encoding="utf-8").read().strip()
# The report's headings sit one level below the docs/benchmarks.md section that holds them.
table = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 1) + " ", table, flags=re.M)
readme = open("docs/benchmarks.md", encoding="utf-8").read()
new = re.sub(r"(<!-- bench-serve:begin -->\n).*?(\n<!-- bench-serve:end -->)", lambda m: m.group(1) + table + m.group(2), readme, flags=re.S)
open("docs/benchmarks.md", "w", encoding="utf-8").write(new)
PY
  echo "bench.sh: docs/benchmarks.md updated" >&2
fi

exit $rc
