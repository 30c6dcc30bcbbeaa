#!/usr/bin/env node
// Classify movie reviews from raw text with a toolkit export, in Node: no Python, no tokenizer to
// reimplement. model.text.onnx takes the review text itself (string [batch]) and returns
// probability: float32 [batch, 1] for two classes (the second label's probability), [batch, K] for
// K > 2 classes (softmax rows); the preprocessing runs inside the graph with standard onnxruntime
// ops, so plain onnxruntime-node runs it.
//
//   npm install                       # onnxruntime-node (its CPU binary ships in the package)
//   node predict.js EXPORT "A wonderful film." "Dull and far too long."
//   node predict.js EXPORT --file reviews.jsonl --json --top-k 3
//
// Output as `toolkit predict` prints it: per review the label and its probability (two classes: the
// second label's probability, the label by the decision threshold; K classes: the most probable label
// and its probability); --top-k N > 1 adds the N most probable classes (a two-class model: both), a
// 'top' column, or "top": [{label, probability}, ...] with --json. N larger than K shows all K.
//
// EXPORT is a folder written by `toolkit export` (model.text.onnx; --int8: model.text.int8.onnx).
// --file: .txt (one review per line) or .jsonl (a string or {"text": ...} per line), read as
// toolkit/edge/reviews.py reads them: a regular file of at most 1,000 MB, UTF-8, only \n ends a line,
// blank lines (by Python's str.strip) skipped, anything else one review or a one-line error naming
// FILE:LINE. A .csv is refused (toolkit predict reads it); stdin is not read.
//
// The labels and the decision threshold come from the model's metadata, checked as toolkit.edge.metadata
// checks them: the metadata's digest (toolkit.metadata_sha256, see metadataDigest), the format
// version, 2 to 1,000 distinct one-line labels, a threshold in (0, 1) for two labels and none for
// more, the input `text` and output `probability` (a fixed last dimension: 1 for two labels, K for
// K), the model made from the model.onnx (and model.int8.onnx) beside it (sha256) and recording the
// same labels, threshold and preprocessing. Any mismatch: a one-line error, exit 1.
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
const MAX_CLASSES = 1000; // contract.MAX_CLASSES

function usage(message) {
  if (message) console.error(`predict.js: error: ${message}`);
  console.error('usage: node predict.js EXPORT [--int8] [--json] [--top-k N] [--file FILE] [TEXT ...]');
  process.exit(message ? 2 : 0);
}

function parseArgs(argv) {
  const opts = { json: false, int8: false, file: null, topK: 1, texts: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--top-k' || a.startsWith('--top-k=')) {
      const text = a === '--top-k' ? argv[++i] : a.slice('--top-k='.length);
      if (text === undefined) usage('--top-k needs a number N');
      opts.topK = topK(text);
    }
    else if (a === '--int8') opts.int8 = true;
    else if (a === '--file') {
      opts.file = argv[++i];
      if (opts.file === undefined) usage('--file needs a FILE');
    }
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!opts.exportDir) opts.exportDir = a;
    else opts.texts.push(a);
  }
  if (!opts.exportDir) usage('no EXPORT folder given');
  return opts;
}

// --top-k N: a whole number of at least 1 (toolkit.cli.flags.int_at_least(1))
function topK(text) {
  if (!/^\s*[+-]?[0-9]+\s*$/.test(text)) usage(`argument --top-k: expected a whole number, got '${text}'`);
  const value = Number(text);
  if (value < 1) usage(`argument --top-k: must be at least 1, got ${value}`);
  return value;
}

// --- reading review files: as toolkit/edge/reviews.py reads them (change both together) ---------------
const MAX_FILE_BYTES = 1_000_000_000; // reviews.MAX_FILE_BYTES: a file of reviews is read whole, up to this
const CHUNK_BYTES = 1 << 20;
const MAX_JSON_DEPTH = 512; // reviews.MAX_JSON_DEPTH: arrays and objects in one JSONL line
const MAX_INT_DIGITS = 4300; // reviews.MAX_INT_DIGITS: digits in one JSON integer
const TEXT_KEYS = ['text', 'review']; // in this order: {"text": null, "review": "x"} is an error, not "x"
// Python's str.isspace(), not JS's trim(): \x1c-\x1f and \x85 are whitespace, U+FEFF is not
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const BLANK = new RegExp(`^[${PY_SPACE}]*$`);
const SPACES = new RegExp(`[${PY_SPACE}]+`, 'g');
const LONE_SURROGATE = /\p{Surrogate}/u; // a JSON "\ud800": no UTF-8 form (Python refuses it too)
const isBlank = (text) => BLANK.test(text); // Python: not text.strip()
const thousands = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const mb = (n) => (n >= 1e6 ? `${thousands(Math.floor(n / 1e6))} MB` : `${thousands(n)} bytes`);
const lineDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // a BOM inside the file is kept

class ReviewError extends Error {}

// The file's bytes: a regular file only (a FIFO or /dev/zero could block or never end), at most
// MAX_FILE_BYTES, read in chunks (the file may grow after its size was checked).
function readBounded(file) {
  if (file === '-') throw new ReviewError('predict.js does not read stdin: pass a .txt or .jsonl file with --file (toolkit predict --file - reads stdin)');
  let stat;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new ReviewError(`${file} does not exist`);
    throw new ReviewError(`cannot read ${file}: ${err.code || err.message}`);
  }
  if (stat.isDirectory()) throw new ReviewError(`${file} is a folder, not a file of reviews`);
  if (!stat.isFile()) throw new ReviewError(`${file} is not a regular file: pass a .txt or .jsonl file`);
  if (stat.size > MAX_FILE_BYTES) throw new ReviewError(`${file} is ${thousands(Math.round(stat.size / 1e6))} MB, more than ${mb(MAX_FILE_BYTES)}: split it`);
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK); // swapped for a FIFO: no wait
    if (!fs.fstatSync(fd).isFile()) throw new ReviewError(`${file} is not a regular file: pass a .txt or .jsonl file`);
    const chunks = [];
    for (let size = 0; ;) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, MAX_FILE_BYTES + 1 - size));
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return Buffer.concat(chunks, size);
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      size += n;
      if (size > MAX_FILE_BYTES) throw new ReviewError(`${file} holds more than ${mb(MAX_FILE_BYTES)} of reviews: split it into smaller files`);
    }
  } catch (err) {
    if (err instanceof ReviewError) throw err;
    throw new ReviewError(`cannot read ${file}: ${err.code || err.message}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// The offset of the first byte that is not UTF-8 (as Python's UnicodeDecodeError.start), or -1
function invalidUtf8At(buf, from, to) {
  for (let i = from; i < to;) {
    const b = buf[i];
    if (b < 0x80) { i++; continue; }
    let need;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) { need = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++, lo = 0x80, hi = 0xbf) {
      if (i + k >= to || buf[i + k] < lo || buf[i + k] > hi) return i;
    }
    i += need + 1;
  }
  return -1;
}

// The file's lines, decoded: only \n (and \r\n) end a line (a review may hold U+2028 or a form feed),
// one leading BOM is dropped (Python's utf-8-sig). Split as bytes, so that no string grows past V8's
// limit (about 512M characters) however large the file: \n is never part of a multi-byte character.
function fileLines(file, buf) {
  const start = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  const lines = [];
  for (let from = start; from <= buf.length;) {
    let to = buf.indexOf(0x0a, from);
    if (to < 0) to = buf.length;
    const end = to > from && buf[to - 1] === 0x0d ? to - 1 : to;
    let line;
    try {
      line = lineDecoder.decode(buf.subarray(from, end));
    } catch (err) {
      const at = invalidUtf8At(buf, from, end);
      if (at >= 0) throw new ReviewError(`${file} is not UTF-8 text (byte ${at - start}): convert it, e.g. iconv -t UTF-8`);
      throw new ReviewError(`${file}:${lines.length + 1}: the line is too long to read in Node (${thousands(end - from)} bytes): split it`);
    }
    lines.push(line);
    from = to + 1;
  }
  return lines;
}

// Whether `item` nests arrays and objects more than MAX_JSON_DEPTH deep (reviews._too_deep in toolkit/edge/reviews.py)
function tooDeep(item) {
  const container = (x) => x !== null && typeof x === 'object';
  let level = [item];
  for (let d = 0; d < MAX_JSON_DEPTH; d++) {
    level = level.filter(container).flatMap((x) => (Array.isArray(x) ? x : Object.values(x)));
    if (!level.length) return false;
  }
  return level.some(container);
}

// An integer literal of more than MAX_INT_DIGITS digits in a JSON line (Python refuses it; JS would
// read it as a float, or Infinity). `line` is valid JSON: outside its strings, numbers are whole tokens.
function longInteger(line) {
  if (!new RegExp(`[0-9]{${MAX_INT_DIGITS + 1}}`).test(line)) return false;
  const bare = line.replace(/"[^"\\]*(?:\\[\s\S][^"\\]*)*"/g, '""');
  for (const [token] of bare.matchAll(/-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/g)) {
    if (!/[.eE]/.test(token) && token.replace('-', '').length > MAX_INT_DIGITS) return true;
  }
  return false;
}

const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

function fromJsonl(file, lines) {
  const reviews = [];
  lines.forEach((line, i) => {
    const n = i + 1;
    if (isBlank(line)) return; // blank lines separate entries, as in a .txt file
    let item;
    try {
      item = JSON.parse(line);
    } catch (err) {
      throw new ReviewError(`${file}:${n}: not JSON (${String(err.message).split('\n')[0]})`);
    }
    if (longInteger(line)) throw new ReviewError(`${file}:${n}: not JSON (an integer of more than ${thousands(MAX_INT_DIGITS)} digits)`);
    if (tooDeep(item)) {
      throw new ReviewError(`${file}:${n}: JSON nested too deeply (more than ${MAX_JSON_DEPTH} levels): expected a string or an object with a 'text' field`);
    }
    if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      const key = TEXT_KEYS.find((k) => own(item, k));
      item = key === undefined ? null : item[key];
    }
    if (typeof item !== 'string') throw new ReviewError(`${file}:${n}: expected a string or an object with a 'text' field`);
    if (isBlank(item)) throw new ReviewError(`${file}:${n}: the review is empty (nothing to classify): remove the line`);
    reviews.push(item);
  });
  return reviews;
}

// Reviews from a .txt (one per line) or .jsonl file (a string or an object with "text"/"review" per
// line), blank lines skipped; anything else is one review, in order, or a one-line error naming
// FILE:LINE. A .csv is refused (toolkit predict reads it): never read as lines of text.
function readReviews(file) {
  const suffix = path.extname(file).toLowerCase();
  if (suffix === '.csv') throw new ReviewError(`${file}: predict.js reads .txt and .jsonl files, not .csv: use toolkit predict --file, or convert it to .jsonl`);
  const lines = fileLines(file, readBounded(file));
  const reviews = suffix === '.jsonl' ? fromJsonl(file, lines) : lines.filter((l) => !isBlank(l));
  if (!reviews.length) throw new ReviewError(`${file} holds no reviews`);
  return reviews;
}

// predict.Classifier's checks on each review (from the arguments or a file)
function checkReviews(texts) {
  texts.forEach((t, i) => {
    if (isBlank(t)) throw new ReviewError(`review ${i + 1} is empty: there is nothing to classify`);
    const lone = t.match(LONE_SURROGATE);
    if (lone) {
      const code = lone[0].charCodeAt(0).toString(16);
      throw new ReviewError(`review ${i + 1} holds '\\u${code}', half of a UTF-16 pair (bytes that were not UTF-8?): fix its encoding`);
    }
  });
}

// --- the export's metadata, checked as toolkit/edge/metadata.py checks it -----------------------------------
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

// metadata.parse_labels: 2 to MAX_CLASSES distinct, non-empty (by Python's str.strip), one-line strings
function parseLabels(text) {
  let labels;
  try { labels = JSON.parse(text); } catch (err) { return null; }
  if (!Array.isArray(labels) || labels.length < 2 || labels.length > MAX_CLASSES) return null;
  const ok = labels.every((l) => typeof l === 'string' && !isBlank(l) && !BAD_LABEL_CHARS.test(l));
  return ok && new Set(labels).size === labels.length ? labels : null;
}

function parseThreshold(text) {
  if (typeof text !== 'string' || !NUMBER.test(text)) return null;
  const value = Number(text);
  return value > 0 && value < 1 ? value : null;
}

const shared = (key) => SHARED_KEYS.includes(key) || (key.startsWith('preprocessing.') && key !== 'preprocessing.in_graph');

// metadata.check_metadata: `session` (of `file`, a `variant` model); `anchor`: model.onnx's, checked
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
  const opset = props['provenance.opset']; // checked as Python checks it
  if (opset !== undefined && !/^[0-9]{1,3}$/.test(opset)) throw new Error(`${file}: provenance.opset ${short(opset)} is not an opset number: export the run again`);
  const labels = parseLabels(props.labels);
  if (!labels) throw new Error(`${file}: labels ${short(props.labels)} is not a JSON list of 2 to ${thousands(MAX_CLASSES)} distinct, non-empty one-line labels: export the run again`);
  let threshold = null;
  if (labels.length === 2) {
    threshold = parseThreshold(props.decision_threshold);
    if (threshold === null) throw new Error(`${file}: decision_threshold ${short(props.decision_threshold)} is not a number between 0 and 1: export the run again`);
  } else if ('decision_threshold' in props) {
    throw new Error(`${file} records decision_threshold ${short(props.decision_threshold)} with ${thousands(labels.length)} labels: a model of more than two classes picks the most probable and has no threshold; export the run again`);
  }
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
  const width = session.outputMetadata[0].shape[1]; // metadata.output_width: a number, or a name (open)
  const classes = labels.length === 2 ? 1 : labels.length;
  if (typeof width === 'number' && width >= 0 && width !== classes) {
    const want = labels.length === 2 ? "1 (the second label's probability)" : thousands(labels.length);
    throw new Error(`${file}: its output gives ${thousands(width)} numbers per review, but ${thousands(labels.length)} labels need ${want}: export the run again`);
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

// sessions.open_export for a text variant: the session and the checked metadata
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
  for (let v = variant; v in DERIVED_FROM; v = DERIVED_FROM[v]) { // metadata.check_derived
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
  checkReviews(texts);

  const ort = require('onnxruntime-node');
  const { session, meta } = await openExport(ort, opts.exportDir, variant);
  const classes = meta.labels.length === 2 ? 1 : meta.labels.length; // numbers per review in the output
  const probabilities = new Array(texts.length); // a number (two classes) or an array of K
  // batches of reviews of similar length: the graph pads each batch to its longest review
  const order = texts.map((t, i) => i).sort((a, b) => texts[a].length - texts[b].length || a - b);
  for (let start = 0; start < order.length; start += BATCH) {
    const rows = order.slice(start, start + BATCH);
    const input = new ort.Tensor('string', rows.map((i) => texts[i]), [rows.length]);
    const { dims, data } = (await session.run({ text: input })).probability;
    if (dims.length !== 2 || dims[0] !== rows.length || dims[1] !== classes) {
      throw new Error(`${path.join(opts.exportDir, FILES[variant])}: the model gave probabilities of shape [${dims.join(', ')}] for ${rows.length} review(s) and ${thousands(meta.labels.length)} labels: export the run again`);
    }
    rows.forEach((row, k) => {
      probabilities[row] = classes === 1 ? data[k] : Array.from(data.subarray(k * classes, (k + 1) * classes));
    });
  }
  const results = predictions(probabilities, meta, opts.topK);
  if (opts.json) {
    console.log(JSON.stringify(results.map((r) => (opts.topK > 1 ? r : { label: r.label, probability: r.probability }))));
  } else {
    console.log(formatTable(texts, results, opts.topK));
  }
}

// predict.Classifier.predictions: {label, probability, top: [{label, probability}]} per review; NaN or
// infinite probabilities are refused (predict._finite)
function predictions(probabilities, meta, k) {
  const bad = probabilities.map((p, i) => ([].concat(p).every(Number.isFinite) ? -1 : i)).filter((i) => i >= 0);
  if (bad.length) {
    throw new Error(`the model gave NaN or infinite probabilities for ${thousands(bad.length)} of ${thousands(probabilities.length)} review(s) (first: review ${bad[0] + 1}): the export is broken; run 'toolkit verify' on it`);
  }
  const { labels, threshold } = meta;
  return probabilities.map((p) => {
    if (labels.length === 2) { // p: the second label's probability; top: both, the more probable first
      const q = [Math.fround(1 - p), p];
      const chosen = p >= threshold ? 1 : 0;
      const first = q[1] > q[0] || (q[1] === q[0] && chosen === 1) ? 1 : 0;
      const top = [first, 1 - first].map((j) => ({ label: labels[j], probability: q[j] }));
      return { label: labels[chosen], probability: p, top };
    }
    const ranked = p.map((v, j) => j).sort((a, b) => p[b] - p[a] || a - b); // ties: label order (argmax: the first)
    const top = ranked.slice(0, Math.min(k, labels.length)).map((j) => ({ label: labels[j], probability: p[j] }));
    return { label: labels[ranked[0]], probability: p[ranked[0]], top };
  });
}

// predict.format_table (widths in code points, as Python's format specs count them)
function formatTable(texts, results, k) {
  const width = (s) => [...s].length;
  const pad = (s, n) => s + ' '.repeat(Math.max(0, n - width(s)));
  const labelWidth = results.reduce((w, r) => Math.max(w, width(r.label)), 9);
  const tops = k > 1 ? results.map((r) => r.top.slice(0, k).map((t) => `${t.label} ${t.probability.toFixed(4)}`).join(', ')) : null;
  const topWidth = tops ? tops.reduce((w, t) => Math.max(w, width(t)), 3) : 0;
  const lines = [`${pad('label', labelWidth)} ${'probability'.padStart(11)}  ${tops ? `${pad('top', topWidth)}  ` : ''}review`];
  results.forEach((r, i) => {
    const snippet = texts[i].replace(SPACES, ' ').replace(/^ | $/g, '');
    const top = tops ? `${pad(tops[i], topWidth)}  ` : '';
    lines.push(`${pad(r.label, labelWidth)} ${r.probability.toFixed(4).padStart(11)}  ${top}${snippet.length > 70 ? snippet.slice(0, 67) + '...' : snippet}`);
  });
  return lines.join('\n');
}

module.exports = { readReviews, checkReviews }; // for the tests: the same rows as toolkit.edge.reviews

if (require.main === module) {
  main().catch((err) => {
    console.error(`predict.js: error: ${String(err && err.message ? err.message : err).split('\n')[0]}`);
    process.exit(1);
  });
}
