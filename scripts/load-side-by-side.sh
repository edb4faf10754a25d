#!/usr/bin/env bash
# Issue 21 §8: 8 concurrent streams against YoutuServer and llama-server, alternating round by round, a fresh server
# per run, each server's engine counters (steps, decode time / llama-server's n_decode) and CPU seconds read around
# the run. Measure on a quiet box.
#   scripts/load-side-by-side.sh ROUNDS MODEL.gguf YOUTU_SERVER LLAMA_SERVER [OUT=/tmp/load-side-by-side]
# e.g. scripts/load-side-by-side.sh 3 models/youtu2b-q4_k_m.gguf /work/bench/pub/youtu-server /work/bench/llama-build/bin/llama-server
set -u
rounds=$1 M=$2 Y=$3 L=$4 R=${5:-/tmp/load-side-by-side}
mkdir -p "$R"
run() { # run SERVER TAG
  local srv=$1 tag=$2 port ready P
  if [ "$srv" = ours ]; then port=8080 ready=/health/ready
    "$Y" serve --model "$M" --parallel 8 --ctx-size 8192 --threads 2 --port $port > "$R/$tag.serve.log" 2>&1 & P=$!
  else port=8081 ready=/health
    "$L" -m "$M" -np 8 -c 8192 -t 2 --kv-unified --jinja --metrics --port $port > "$R/$tag.serve.log" 2>&1 & P=$!
  fi
  for _ in $(seq 300); do curl -sf "localhost:$port$ready" > /dev/null && break; sleep 1; done
  local c0; c0=$(awk '{print ($14+$15)/100}' /proc/$P/stat)
  "$Y" bench serve --url "http://127.0.0.1:$port" --endpoint chat --temperature default --scenarios load \
    --concurrency 8 --requests 24 --prompt-tokens 64,128 --max-tokens 64 --no-progress \
    --json "$R/$tag.json" > "$R/$tag.md" 2> "$R/$tag.err"
  echo "cpu_s $(awk -v c0="$c0" '{print ($14+$15)/100 - c0}' /proc/$P/stat)" > "$R/$tag.cpu"
  curl -s "localhost:$port/metrics" | grep -E '^(youtu_engine|llamacpp:(n_decode|n_busy|prompt_tokens_total|tokens_predicted_total))' > "$R/$tag.metrics"
  kill $P; wait $P 2>/dev/null
  echo "$tag: $(grep -E '^\| [0-9]' "$R/$tag.md" | head -1) $(cat "$R/$tag.cpu")"
}
for r in $(seq "$rounds"); do run ours "ours-$r"; run llama "llama-$r"; done
python3 - "$R" "$rounds" <<'PY'
import json, sys, statistics
d, n = sys.argv[1], int(sys.argv[2])
rt, rf, so, sl, to, tl = [], [], 0, 0, 0, 0
for r in range(1, n + 1):
    o, l = (json.load(open(f"{d}/{s}-{r}.json"))["load"] for s in ("ours", "llama"))
    rt.append(o["output_tok_s"] / l["output_tok_s"]); rf.append(o["ttft_ms"]["p50"] / l["ttft_ms"]["p50"])
    so += o["output_tokens"]; to += o["duration_s"]; sl += l["output_tokens"]; tl += l["duration_s"]
    print(f"round {r}: output tok/s {o['output_tok_s']:.1f} / {l['output_tok_s']:.1f} = {rt[-1]:.2f}x; TTFT p50 {o['ttft_ms']['p50']:.0f} / {l['ttft_ms']['p50']:.0f} ms = {rf[-1]:.2f}x")
print(f"all rounds: throughput {so / to:.2f} / {sl / tl:.2f} tok/s = {(so / to) / (sl / tl):.3f}x; median TTFT p50 ratio {statistics.median(rf):.2f}x")
PY
