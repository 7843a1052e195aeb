#!/usr/bin/env bash
# Reruns every benchmark whose figures the README reports, on this machine, and writes one JSON line per run to
# bench-results/<date>/<name>.json (and the machine's facts to machine.txt). Usage:
#   scripts/bench.sh            # all of them (about an hour on 2 cores)
#   scripts/bench.sh quick      # llama-tiny only (about 15 minutes)
# Runs are sequential; sharded strategies are timed against data parallel inside one invocation in alternated
# rounds (ABAB), so each line compares runs made side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=axolotl-examples/target/axolotl.jar
[ -f "$jar" ] || mvn -q -DskipTests package
out="bench-results/$(date +%Y-%m-%d-%H%M)"
mkdir -p "$out"
{ nproc; free -h; uname -a; java -version 2>&1; git rev-parse HEAD; } > "$out/machine.txt"
run() {
  local name=$1; shift
  echo "== $name: axolotl bench $*" >&2
  java -jar "$jar" bench "$@" 2> "$out/$name.log" | tail -n 1 > "$out/$name.json"
  cat "$out/$name.json"
}
run tiny-single --shape llama-tiny --steps 14
run tiny-ddp --shape llama-tiny --strategy ddp --world 2
for s in zero1 zero2 zero3 fsdp2 tp; do
  run "tiny-$s" --shape llama-tiny --strategy "$s" --world 2
done
for s in fsdp2+tp ddp+tp; do
  run "tiny-$s" --shape llama-tiny --strategy "$s" --world 4
done
if [ "${1:-all}" != quick ]; then
  run small-single --shape llama-small --steps 10
  run small-ddp --shape llama-small --strategy ddp --world 2 --steps 8
  for s in zero3 fsdp2; do
    run "small-$s" --shape llama-small --strategy "$s" --world 2 --steps 8
  done
  run small-memory --memory --shape llama-small --world 2 --steps 3 --accumulation 1,8
  run small-memory-glibc --memory --shape llama-small --world 2 --steps 3 --accumulation 1,8 --allocator glibc
fi
echo "results in $out" >&2
