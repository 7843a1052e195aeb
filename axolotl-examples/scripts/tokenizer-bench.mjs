// The reference side of `axolotl bench --tokenizer DIR --text FILE`: tokens per second of the official Hugging
// Face tokenizers binding (npm tokenizers@0.23.2) encoding the same text the same way (no special tokens, no
// truncation), median of ROUNDS rounds of about one second after a one-second warm-up. Usage, from a folder where
// `npm install tokenizers@0.23.2` was run:
//   NODE_PATH=$PWD/node_modules node tokenizer-bench.mjs DIR FILE [ROUNDS]
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");

const [dir, file, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 5);
const text = readFileSync(file, "utf8");
const tok = Tokenizer.fromFile(`${dir}/tokenizer.json`);
tok.disableTruncation();
tok.disablePadding();
const encode = () => tok.encode(text, null, { addSpecialTokens: false });
const n = (await encode()).getIds().length;
let t0 = process.hrtime.bigint();
while (process.hrtime.bigint() - t0 < 1_000_000_000n) {
  await encode();
}
const rates = [];
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  let encodes = 0;
  let elapsed;
  do {
    await encode();
    encodes++;
    elapsed = Number(process.hrtime.bigint() - start);
  } while (elapsed < 1e9);
  rates.push((encodes * n) / (elapsed / 1e9));
}
rates.sort((a, b) => a - b);
console.log(JSON.stringify({ engine: "tokenizers@npm (official HF binding)", tokenizer: dir, text: file,
  chars: text.length, tokens: n, rounds, tokens_per_s_median: Math.round(rates[Math.floor(rounds / 2)]),
  tokens_per_s_min: Math.round(rates[0]), tokens_per_s_max: Math.round(rates[rounds - 1]) }));
