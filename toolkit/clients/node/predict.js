#!/usr/bin/env node
// Classify movie reviews from raw text with a toolkit export, in Node: no Python, no tokenizer to
// reimplement. model.text.onnx takes the review text itself (string [batch]) and returns
// probability (float32 [batch, 1]); the preprocessing runs inside the graph with standard
// onnxruntime ops, so plain onnxruntime-node runs it.
//
//   npm install                       # onnxruntime-node (its CPU binary ships in the package)
//   node predict.js EXPORT "A wonderful film." "Dull and far too long."
//   node predict.js EXPORT --file reviews.jsonl --json
//
// EXPORT is a folder written by `toolkit export` (model.text.onnx; --int8: model.text.int8.onnx).
// --file: .txt (one review per line) or .jsonl (a string or {"text": ...} per line).
'use strict';

const fs = require('fs');
const path = require('path');

const THRESHOLD = 0.5; // the export's decision_threshold
const LABELS = ['negative', 'positive'];
const BATCH = 256;

function usage(message) {
  if (message) console.error(`predict.js: error: ${message}`);
  console.error('usage: node predict.js EXPORT [--int8] [--json] [--file FILE] [TEXT ...]');
  process.exit(message ? 2 : 0);
}

function parseArgs(argv) {
  const opts = { json: false, int8: false, file: null, texts: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--int8') opts.int8 = true;
    else if (a === '--file') opts.file = argv[++i];
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!opts.exportDir) opts.exportDir = a;
    else opts.texts.push(a);
  }
  if (!opts.exportDir) usage('no EXPORT folder given');
  return opts;
}

function readReviews(file) {
  const lines = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l.trim());
  if (!file.toLowerCase().endsWith('.jsonl')) return lines;
  return lines.map((line, n) => {
    const item = JSON.parse(line);
    const text = typeof item === 'string' ? item : item && (item.text ?? item.review);
    if (typeof text !== 'string') throw new Error(`${file}:${n + 1}: expected a string or an object with "text"`);
    return text;
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const model = path.join(opts.exportDir, opts.int8 ? 'model.text.int8.onnx' : 'model.text.onnx');
  if (!fs.existsSync(model)) usage(`${model} does not exist: export the run with toolkit (tokenizer version 2)`);
  const texts = opts.file ? readReviews(opts.file) : opts.texts;
  if (!texts.length) usage('no reviews: pass them as arguments or with --file');
  texts.forEach((t, i) => { if (!t.trim()) usage(`review ${i + 1} is empty`); });

  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const probabilities = new Array(texts.length);
  // batches of reviews of similar length: the graph pads each batch to its longest review
  const order = texts.map((t, i) => i).sort((a, b) => texts[a].length - texts[b].length || a - b);
  for (let start = 0; start < order.length; start += BATCH) {
    const rows = order.slice(start, start + BATCH);
    const input = new ort.Tensor('string', rows.map((i) => texts[i]), [rows.length]);
    const output = await session.run({ text: input });
    rows.forEach((row, k) => { probabilities[row] = output.probability.data[k]; });
  }
  const results = probabilities.map((p) => ({ label: LABELS[p >= THRESHOLD ? 1 : 0], probability: p }));
  if (opts.json) {
    console.log(JSON.stringify(results));
  } else {
    console.log(`${'label'.padEnd(9)} ${'probability'.padStart(11)}  review`);
    results.forEach((r, i) => {
      const snippet = texts[i].replace(/\s+/g, ' ').trim();
      console.log(`${r.label.padEnd(9)} ${r.probability.toFixed(4).padStart(11)}  ${snippet.length > 70 ? snippet.slice(0, 67) + '...' : snippet}`);
    });
  }
}

main().catch((err) => {
  console.error(`predict.js: error: ${String(err && err.message ? err.message : err).split('\n')[0]}`);
  process.exit(1);
});
