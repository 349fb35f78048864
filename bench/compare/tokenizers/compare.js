// Encode throughput, one thread, PeftSharp.Text vs Hugging Face tokenizers (Rust, Node bindings) on the same
// text and tokenizer.json files in one run. Usage (from the repository root, after `npm install` here and
// `dotnet build bench/PeftSharp.Benchmarks -c Release`):
//   node bench/compare/tokenizers/compare.js [fixtures root] [seconds per measurement]
// The text is every `text` of tokenizers/llama3/cases.json (147 multilingual cases) joined by newlines and
// repeated to at least 1 MB. Each tokenizer is timed: Rust, then .NET, then Rust again (the Rust figure is the
// mean of both), after checking that both produce the same ids.
'use strict';
process.env.TOKENIZERS_PARALLELISM = 'false';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

const repo = path.resolve(__dirname, '..', '..', '..');
const fixtures = path.resolve(process.argv[2] || process.env.PEFTSHARP_FIXTURES || path.join(repo, '..', 'shared', 'fixtures'));
const seconds = Number(process.argv[3] || 3);

const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizers', 'llama3', 'cases.json'), 'utf8'));
const unit = cases.map(c => c.text).join('\n');
let text = unit;
while (Buffer.byteLength(text, 'utf8') < 1_000_000) text += '\n' + unit;
const textFile = path.join(os.tmpdir(), 'peftsharp-tokenizer-bench.txt');
fs.writeFileSync(textFile, text, 'utf8');
const megabytes = Buffer.byteLength(text, 'utf8') / 1e6;

const tokenizers = [];
for (const name of fs.readdirSync(path.join(fixtures, 'tokenizers')).sort()) {
  let file = path.join(fixtures, 'tokenizers', name, 'tokenizer.json');
  if (!fs.existsSync(file)) file = path.join(os.homedir(), '.cache', 'peftsharp', name, 'tokenizer.json');
  if (fs.existsSync(file)) tokenizers.push({ name, file });
  else console.log(`${name}: tokenizer.json absent, not measured`);
}

function checksum(ids) {
  let h = 0n;
  for (const id of ids) h = (h * 31n + BigInt(id)) % 1000000007n;
  return Number(h);
}

async function rust(t) {
  const tok = Tokenizer.fromFile(t.file);
  const first = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  let reps = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds || reps < 2) {
    await tok.encode(text, null, { addSpecialTokens: false });
    reps++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return { mbps: megabytes * reps / elapsed, tokens: first.length, checksum: checksum(first) };
}

function dotnet(t) {
  const dll = path.join(repo, 'bench', 'PeftSharp.Benchmarks', 'bin', 'Release', 'net10.0', 'PeftSharp.Benchmarks.dll');
  const out = execFileSync('dotnet', [dll, 'tokenizers', textFile, String(seconds), `${t.name}=${t.file}`], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

(async () => {
  console.log(`text: ${megabytes.toFixed(2)} MB UTF-8 (${text.length} UTF-16 chars), ${seconds}s per measurement, tokenizers ${require('tokenizers/package.json').version}`);
  console.log('| tokenizer | tokens | Rust tokenizers (MB/s) | PeftSharp.Text (MB/s) | ratio | same ids |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const t of tokenizers) {
    const r1 = await rust(t);
    const n = dotnet(t);
    const r2 = await rust(t);
    const r = (r1.mbps + r2.mbps) / 2;
    const same = r1.tokens === n.tokens && r1.checksum === n.checksum;
    console.log(`| ${t.name} | ${r1.tokens} | ${r.toFixed(2)} | ${n.mbps.toFixed(2)} | ${(n.mbps / r).toFixed(2)}× | ${same ? 'yes' : `NO (${n.tokens} tokens)`} |`);
  }
})();
