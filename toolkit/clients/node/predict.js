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
//
// The labels and the decision threshold come from the model's metadata, checked as toolkit.runtime
// checks them: the metadata's digest (toolkit.metadata_sha256, see metadataDigest), the format
// version, two distinct one-line labels, a threshold in (0, 1), the input `text` and output
// `probability`, the model made from the model.onnx (and model.int8.onnx) beside it (sha256) and
// recording the same labels, threshold and preprocessing. Any mismatch: a one-line error, exit 1.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const FORMAT_VERSION = '2'; // toolkit.format_version this client reads
const DIGEST_KEY = 'toolkit.metadata_sha256';
const SHARED_KEYS = ['toolkit.format_version', 'labels', 'decision_threshold', 'input.variable_length'];
const NUMBER = /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/; // a threshold as Python's str(float) writes it
const BAD_LABEL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/u; // one line, no lone surrogate
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

// --- the export's metadata, checked as toolkit/runtime.py checks it -----------------------------------
const utf8 = new TextDecoder('utf-8', { fatal: true });

function varint(buf, pos) {
  let value = 0;
  for (let scale = 1, n = 0; n < 10; n++, scale *= 128) {
    if (pos >= buf.length) throw new Error('truncated');
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
  }
  throw new Error('bad varint');
}

// [[field number, wire type, start, end]] of one protobuf message (buf[start:end] is the field's payload)
function fields(buf, start, end) {
  const out = [];
  let pos = start;
  while (pos < end) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let from = pos;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let length;
      [length, from] = varint(buf, pos);
      pos = from + length;
    } else throw new Error(`wire type ${wire}`);
    if (pos > end) throw new Error('truncated');
    out.push([field, wire, from, pos]);
  }
  return out;
}

// An ONNX file's metadata_props (ModelProto field 14: StringStringEntryProto key 1, value 2), as
// onnxruntime reads them (a repeated key: the last one wins); the weights are skipped, not parsed.
function readMetadata(file) {
  const buf = fs.readFileSync(file);
  const props = Object.create(null); // a key "__proto__" is a key like any other
  try {
    for (const [field, wire, start, end] of fields(buf, 0, buf.length)) {
      if (field !== 14 || wire !== 2) continue;
      let key = '';
      let value = '';
      for (const [f, w, s, e] of fields(buf, start, end)) {
        if (w === 2 && f === 1) key = utf8.decode(buf.subarray(s, e));
        if (w === 2 && f === 2) value = utf8.decode(buf.subarray(s, e));
      }
      props[key] = value;
    }
  } catch (err) {
    throw new Error(`${file} is not a readable ONNX model (${err.message}): export the run again`);
  }
  return props;
}

// contract.metadata_digest: sha256 over every prop but the digest, keys in UTF-8 byte order, each
// key and then its value as `<UTF-8 byte length>:<UTF-8 bytes>`
function metadataDigest(props) {
  const hash = crypto.createHash('sha256');
  const keys = Object.keys(props).filter((k) => k !== DIGEST_KEY)
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  for (const key of keys) {
    for (const text of [key, props[key]]) hash.update(`${Buffer.byteLength(text, 'utf8')}:${text}`, 'utf8');
  }
  return hash.digest('hex');
}

const short = (v) => { const t = v === undefined ? 'nothing' : JSON.stringify(v); return t.length <= 40 ? t : `${t.slice(0, 37)}...`; };
const sha256File = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function parseLabels(text) {
  let labels;
  try { labels = JSON.parse(text); } catch (err) { return null; }
  if (!Array.isArray(labels) || labels.length !== 2 || labels[0] === labels[1]) return null;
  const ok = labels.every((l) => typeof l === 'string' && l.trim() && !BAD_LABEL_CHARS.test(l));
  return ok ? labels : null;
}

function parseThreshold(text) {
  if (typeof text !== 'string' || !NUMBER.test(text)) return null;
  const value = Number(text);
  return value > 0 && value < 1 ? value : null;
}

const shared = (key) => SHARED_KEYS.includes(key) || (key.startsWith('preprocessing.') && key !== 'preprocessing.in_graph');

// runtime.check_metadata: `session` (of `file`, a `variant` model); `anchor`: model.onnx's, checked
function checkMetadata(file, session, variant, anchor) {
  const props = readMetadata(file);
  if (!('preprocessing.vocab_sha256' in props) && !('toolkit.format_version' in props)) {
    throw new Error(`${file} carries no toolkit metadata: export it with 'toolkit export'`);
  }
  if (!(DIGEST_KEY in props)) throw new Error(`${file} has no metadata checksum: it was exported by an older toolkit; export the run again`);
  if (metadataDigest(props) !== props[DIGEST_KEY]) {
    throw new Error(`${file}: its metadata does not match its checksum (edited after the export): export the run again`);
  }
  const version = props['toolkit.format_version'];
  if (version !== FORMAT_VERSION) {
    throw new Error(`${file} has export format ${short(version)}; this client reads format ${FORMAT_VERSION}: export the run again with the toolkit`);
  }
  if (!props['preprocessing.vocab_sha256']) throw new Error(`${file} records no preprocessing.vocab_sha256: export the run again`);
  const opset = props['provenance.opset']; // toolkit verify writes it into the model card
  if (opset !== undefined && !/^[0-9]{1,3}$/.test(opset)) throw new Error(`${file}: provenance.opset ${short(opset)} is not an opset number: export the run again`);
  const labels = parseLabels(props.labels);
  if (!labels) throw new Error(`${file}: labels ${short(props.labels)} is not a JSON list of two distinct, non-empty one-line labels: export the run again`);
  const threshold = parseThreshold(props.decision_threshold);
  if (threshold === null) throw new Error(`${file}: decision_threshold ${short(props.decision_threshold)} is not a number between 0 and 1: export the run again`);
  const flag = props['input.variable_length'];
  if (flag !== 'true' && flag !== 'false') throw new Error(`${file}: input.variable_length ${short(flag)} is not true or false: export the run again`);
  const recorded = props['variant.name'] ?? 'fp32';
  if (recorded !== variant) throw new Error(`${file} is the ${short(recorded)} model, not ${variant}: export the run again`);
  const takesText = variant.startsWith('text');
  const rank = (v) => (v.shape || []).length;
  const describe = (values) => values.map((v) => `${short(v.name)} ${v.type} (rank ${rank(v)})`).join(', ') || 'none';
  const expected = [{ name: takesText ? 'text' : 'token_ids', type: takesText ? 'string' : 'int32', shape: takesText ? [0] : [0, 0] }];
  const pairs = [['input', session.inputMetadata, expected], ['output', session.outputMetadata, [{ name: 'probability', type: 'float32', shape: [0, 0] }]]];
  for (const [what, got, want] of pairs) {
    const same = got.length === want.length && got.every((g, i) => g.isTensor && g.name === want[i].name
      && g.type === want[i].type && rank(g) === rank(want[i]));
    if (!same) throw new Error(`${file} has the ${what}s ${describe(got)}, not ${describe(want)}: it is not a toolkit ${variant} model; export the run again`);
  }
  const tokens = takesText ? null : session.inputMetadata[0].shape[1]; // a name or -1: any number of tokens
  if (!takesText && (flag === 'true') !== (typeof tokens !== 'number' || tokens < 0)) {
    throw new Error(`${file}: input.variable_length ${flag} does not describe its input: export the run again`);
  }
  if (anchor) {
    const keys = [...new Set([...Object.keys(anchor.props), ...Object.keys(props)])].filter(shared).sort();
    for (const key of keys) {
      if (props[key] !== anchor.props[key]) {
        throw new Error(`${file} records ${key} ${short(props[key])}, but ${anchor.file} records ${short(anchor.props[key])}: export the run again`);
      }
    }
  }
  return { file, props, labels, threshold };
}

const FILES = { fp32: 'model.onnx', int8: 'model.int8.onnx', text: 'model.text.onnx', 'text-int8': 'model.text.int8.onnx' };
const DERIVED_FROM = { int8: 'fp32', text: 'fp32', 'text-int8': 'int8' };

// runtime.open_export for a text variant: the session and the checked metadata
async function openExport(ort, exportDir, variant) {
  for (const name of [FILES.fp32, FILES[variant]]) {
    if (!fs.existsSync(path.join(exportDir, name))) throw new Error(`${exportDir} has no ${name}: export the run again with 'toolkit export RUN'`);
  }
  const create = async (file) => {
    try {
      return await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
    } catch (err) {
      throw new Error(`${file} is not a loadable ONNX model: it may be truncated or corrupt; export the run again`);
    }
  };
  const anchorFile = path.join(exportDir, FILES.fp32);
  const anchor = checkMetadata(anchorFile, await create(anchorFile), 'fp32');
  for (let v = variant; v in DERIVED_FROM; v = DERIVED_FROM[v]) { // runtime.check_derived
    const derived = path.join(exportDir, FILES[v]);
    const source = path.join(exportDir, FILES[DERIVED_FROM[v]]);
    const recorded = fs.existsSync(derived) ? readMetadata(derived)['variant.source_sha256'] : undefined;
    const actual = fs.existsSync(source) ? sha256File(source) : 'missing';
    if (recorded !== actual) {
      throw new Error(`${derived} was not made from ${source} (it records ${(recorded || 'no source').slice(0, 12)}..., the file is ${actual.slice(0, 12)}...): export the run again`);
    }
  }
  const file = path.join(exportDir, FILES[variant]);
  const session = await create(file);
  return { session, meta: checkMetadata(file, session, variant, anchor) };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const variant = opts.int8 ? 'text-int8' : 'text';
  const model = path.join(opts.exportDir, FILES[variant]);
  if (!fs.existsSync(model)) usage(`${model} does not exist: export the run with toolkit (tokenizer version 2)`);
  const texts = opts.file ? readReviews(opts.file) : opts.texts;
  if (!texts.length) usage('no reviews: pass them as arguments or with --file');
  texts.forEach((t, i) => { if (!t.trim()) usage(`review ${i + 1} is empty`); });

  const ort = require('onnxruntime-node');
  const { session, meta } = await openExport(ort, opts.exportDir, variant);
  const probabilities = new Array(texts.length);
  // batches of reviews of similar length: the graph pads each batch to its longest review
  const order = texts.map((t, i) => i).sort((a, b) => texts[a].length - texts[b].length || a - b);
  for (let start = 0; start < order.length; start += BATCH) {
    const rows = order.slice(start, start + BATCH);
    const input = new ort.Tensor('string', rows.map((i) => texts[i]), [rows.length]);
    const output = await session.run({ text: input });
    rows.forEach((row, k) => { probabilities[row] = output.probability.data[k]; });
  }
  const results = probabilities.map((p) => ({ label: meta.labels[p >= meta.threshold ? 1 : 0], probability: p }));
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
