// Classify a review in the browser with a toolkit export and onnxruntime-web (WASM): no server round
// trip, the text never leaves the page, and once loaded the page works offline (it fetches nothing
// more). `toolkit web EXPORT` serves this page, the export and onnxruntime-web's files; any static
// server can too, with the same layout:
//
//   index.html, app.js     this folder
//   export/                the export folder (model.text.onnx, model.text.int8.onnx, vocab.json, ...)
//   ort/                   onnxruntime-web's dist/ files: ort.wasm.min.mjs, ort-wasm-simd-threaded.{mjs,wasm}
//
// Query parameters (all optional): export=URL and ort=URL (the two folders, on the page's own origin:
// a link to the page must not make it run another site's script), model=fp32|int8 (the
// precision; the text model when the export has one, else the ids model with the tokenizer below
// reading vocab.json), threads=N (WASM threads; more than 1 needs a cross-origin isolated page:
// `toolkit web --isolate`), debounce=MS (wait after the last keystroke, default 100); for measuring:
// input=ids (the ids model and the JavaScript tokenizer even when there is a text model), opt=all|
// extended|basic|disabled (onnxruntime's graph optimisation, default all), warmup=N (classifications
// of a sample review after loading, default 400; 0: none).
//
// The model's metadata is read from the ONNX file and checked as toolkit/edge/metadata.py checks it
// where a browser can: the metadata's seal (toolkit.metadata_sha256, with SubtleCrypto in a secure
// context: https or loopback), the format version, the labels, the threshold, the input and output.
// `toolkit web` runs Python's full checks on the export (every file's checksum) before serving it.
//
// window.toolkitWeb (for tests and `toolkit bench web`): ready (a Promise of the model's info),
// classify(texts) -> probabilities (numbers for two classes, arrays of K otherwise), update(text) ->
// milliseconds of one keystroke's work (classify and show), time(texts, batch) -> milliseconds of
// classifying every text in batches, choose(precision), encode(texts) -> the token ids of an ids model
// (null for a text model).

const FORMAT_VERSION = '2'; // toolkit.format_version this page reads
const DIGEST_KEY = 'toolkit.metadata_sha256';
const MAX_CLASSES = 1000;
const FILES = { text: 'model.text.onnx', 'text-int8': 'model.text.int8.onnx', fp32: 'model.onnx', int8: 'model.int8.onnx' };
const PRECISIONS = { fp32: ['text', 'fp32'], int8: ['text-int8', 'int8'] }; // the text model first
const NUMBER = /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;
const BAD_LABEL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/u;
// Python's str.isspace() (\s in Python's re), not JS's \s: \x1c-\x1f and \x85 are white space, U+FEFF is not
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const BLANK = new RegExp(`^[${PY_SPACE}]*$`, 'u');
const LONE_SURROGATE = /\p{Surrogate}/u;

const params = new URLSearchParams(location.search);
let exportUrl; // set by start() from the query (a bad URL is the page's one-line error, not a dead module)
let ortUrl;
let debounceMs = 100; // set by start() from the query
let threads = 1;
let optimization = 'all';
let warmRuns = 400; // classifications of WARM_TEXT after loading a model (query: warmup=N)
let lastInput = -Infinity; // performance.now() of the latest keystroke
// About as long as the median IMDB review (172 words): V8 first runs WASM from its quick baseline
// compiler and optimises a function only once it is hot, so the first hundred or so classifications
// take several times longer than the later ones (see the README's figures). The page runs them itself,
// after loading, unless the user starts typing.
const WARM_TEXT = Array(12).fill('The story moves slowly at first, but the acting is superb and the ending stays with you.').join(' ');
const WARM_MS = 6000; // at most this long
const OPT_LEVELS = ['all', 'extended', 'basic', 'disabled'];
const $ = (id) => document.getElementById(id);

class PageError extends Error {}

function folder(url) { return url.endsWith('/') ? url : `${url}/`; }

function whole(text, fallback, lo, hi, name) {
  if (text === null) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < lo || Number(text) > hi) {
    throw new PageError(`the ${name} parameter must be a whole number from ${lo} to ${hi}, not "${text}"`);
  }
  return Number(text);
}

// --- the ONNX file's metadata_props (ModelProto field 14), read without parsing the weights ---------
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

function* fields(buf, start, end) { // [field number, wire type, payload start, payload end]
  for (let pos = start; pos < end;) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const wire = tag % 8;
    let from = pos;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) { let n; [n, from] = varint(buf, pos); pos = from + n; }
    else throw new Error(`wire type ${wire}`);
    if (pos > end) throw new Error('truncated');
    yield [Math.floor(tag / 8), wire, from, pos];
  }
}

function readMetadata(name, bytes) {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const props = new Map(); // a repeated key: the last one wins, as in onnxruntime
  try {
    for (const [field, wire, start, end] of fields(bytes, 0, bytes.length)) {
      if (field !== 14 || wire !== 2) continue;
      let key = '';
      let value = '';
      for (const [f, w, s, e] of fields(bytes, start, end)) {
        if (w === 2 && f === 1) key = utf8.decode(bytes.subarray(s, e));
        if (w === 2 && f === 2) value = utf8.decode(bytes.subarray(s, e));
      }
      props.set(key, value);
    }
  } catch (err) {
    throw new PageError(`${name} is not a readable ONNX model (${err.message}): export the run again`);
  }
  return props;
}

// contract.metadata_digest: sha256 over every prop but the digest, keys in UTF-8 byte order, each key
// and then its value as `<UTF-8 byte length>:<UTF-8 bytes>`
async function metadataDigest(props) {
  const enc = new TextEncoder();
  const keys = [...props.keys()].filter((k) => k !== DIGEST_KEY).map((k) => [k, enc.encode(k)]);
  keys.sort(([, a], [, b]) => { for (let i = 0; i < Math.min(a.length, b.length); i++) { if (a[i] !== b[i]) return a[i] - b[i]; } return a.length - b.length; });
  const parts = [];
  for (const [key, bytes] of keys) {
    for (const b of [bytes, enc.encode(props.get(key))]) parts.push(enc.encode(`${b.length}:`), b);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => { all.set(p, at); return at + p.length; }, 0);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...hash].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const short = (v) => { const t = v === undefined ? 'nothing' : JSON.stringify(v); return t.length <= 40 ? t : `${t.slice(0, 37)}...`; };

function parseLabels(text) {
  let labels;
  try { labels = JSON.parse(text); } catch { return null; }
  if (!Array.isArray(labels) || labels.length < 2 || labels.length > MAX_CLASSES) return null;
  const ok = labels.every((l) => typeof l === 'string' && !BLANK.test(l) && !BAD_LABEL_CHARS.test(l));
  return ok && new Set(labels).size === labels.length ? labels : null;
}

// metadata.check_metadata, as far as a page can: the seal, the format, labels, threshold, input, output
async function checkMetadata(name, props, variant, session) {
  if (!props.has('preprocessing.vocab_sha256') && !props.has('toolkit.format_version')) {
    throw new PageError(`${name} carries no toolkit metadata: export it with 'toolkit export'`);
  }
  if (!props.has(DIGEST_KEY)) throw new PageError(`${name} has no metadata checksum: it was exported by an older toolkit; export the run again`);
  const sealed = Boolean(globalThis.crypto && crypto.subtle); // SubtleCrypto: secure contexts only
  if (sealed && (await metadataDigest(props)) !== props.get(DIGEST_KEY)) {
    throw new PageError(`${name}: its metadata does not match its checksum (edited after the export): export the run again`);
  }
  const version = props.get('toolkit.format_version');
  if (version !== FORMAT_VERSION) throw new PageError(`${name} has export format ${short(version)}; this page reads format ${FORMAT_VERSION}: export the run again`);
  if (!props.get('preprocessing.vocab_sha256')) throw new PageError(`${name} records no preprocessing.vocab_sha256: export the run again`);
  const flag = props.get('input.variable_length');
  if (flag !== 'true' && flag !== 'false') throw new PageError(`${name}: input.variable_length ${short(flag)} is not true or false: export the run again`);
  const labels = parseLabels(props.get('labels'));
  if (!labels) throw new PageError(`${name}: labels ${short(props.get('labels'))} is not a JSON list of 2 to ${MAX_CLASSES} distinct, non-empty one-line labels: export the run again`);
  let threshold = null;
  if (labels.length === 2) {
    const text = props.get('decision_threshold');
    threshold = typeof text === 'string' && NUMBER.test(text) ? Number(text) : NaN;
    if (!(threshold > 0 && threshold < 1)) throw new PageError(`${name}: decision_threshold ${short(text)} is not a number between 0 and 1: export the run again`);
  } else if (props.has('decision_threshold')) {
    throw new PageError(`${name} records decision_threshold with ${labels.length} labels: export the run again`);
  }
  const recorded = props.get('variant.name') ?? 'fp32';
  if (recorded !== variant) throw new PageError(`${name} is the ${short(recorded)} model, not ${variant}: export the run again`);
  const takesText = variant.startsWith('text');
  const want = takesText ? ['text', 'string'] : ['token_ids', 'int32'];
  const [input] = session.inputMetadata;
  const [output] = session.outputMetadata;
  if (session.inputMetadata.length !== 1 || input.name !== want[0] || input.type !== want[1]
    || session.outputMetadata.length !== 1 || output.name !== 'probability' || output.type !== 'float32') {
    throw new PageError(`${name} does not take ${want[0]} (${want[1]}) and give probability (float32): it is not a toolkit ${variant} model`);
  }
  return { labels, threshold, sealed, variableLength: flag === 'true', props };
}

// --- the tokenizer of toolkit/edge/text.py, for an export without a text model (vocab.json) ------------
const BREAK_V2 = /<[bB][rR][ \t\n\r\f\v]*\/?>/g;
const WORD_V2 = /[a-zA-Z0-9]+(?:'[a-zA-Z0-9]+)*/g;
const BREAK_V1 = new RegExp(`<br[${PY_SPACE}]*/?>`, 'giu');
const WORD_V1 = /[a-z0-9]+(?:'[a-z0-9]+)*/g;

function tokenizer(spec, props, name) {
  const ints = ['num_words', 'maxlen', 'pad_id', 'start_id', 'oov_id', 'first_word_id'];
  if (spec.format !== 'toolkit.vocabulary' || ![1, 2].includes(spec.tokenizer_version) || !Array.isArray(spec.words)
    || !ints.every((k) => Number.isInteger(spec[k])) || spec.pad_id !== 0 || spec.start_id !== 1 || spec.oov_id !== 2 || spec.first_word_id !== 3) {
    throw new PageError(`${name} is not a toolkit vocabulary this page reads (tokenizer 1 or 2): export the run again`);
  }
  if (spec.sha256 !== props.get('preprocessing.vocab_sha256')) {
    throw new PageError(`${name} belongs to another model (sha256 ${String(spec.sha256).slice(0, 12)}...): use the vocab.json exported with this model`);
  }
  for (const key of ['maxlen', 'num_words', 'tokenizer_version']) {
    if (props.get(`preprocessing.${key}`) !== String(spec[key])) throw new PageError(`the model records preprocessing.${key} ${short(props.get(`preprocessing.${key}`))}, but ${name} says ${spec[key]}: export the run again`);
  }
  const index = new Map(spec.words.map((w, i) => [w, 3 + i]));
  const tokens = spec.tokenizer_version === 2
    ? (t) => (t.replace(BREAK_V2, ' ').match(WORD_V2) || []).map((w) => w.toLowerCase()) // ASCII only
    : (t) => t.replace(BREAK_V1, ' ').toLowerCase().match(WORD_V1) || [];
  return (text) => [1, ...tokens(text).map((w) => index.get(w) ?? 2)].slice(-spec.maxlen);
}

// --- loading ------------------------------------------------------------------------------------------
let ort;
const models = new Map(); // precision -> loaded model

const fetched = new Map(); // URL -> bytes: what prefetch() brought, so that a later switch works offline

async function fetchBytes(url) {
  if (fetched.has(url.href)) return fetched.get(url.href);
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new PageError(`${url.pathname} could not be loaded (${err.message}): is the server running?`);
  }
  if (!response.ok) throw new PageError(`${url.pathname} could not be loaded (HTTP ${response.status}): is it part of the export?`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  fetched.set(url.href, bytes);
  return bytes;
}

// Every other model of the export (and vocab.json), fetched after the first is ready: switching later
// needs no network
async function prefetch() {
  const names = Object.values(found).map((variant) => FILES[variant]);
  if (Object.values(found).some((variant) => !variant.startsWith('text'))) names.push('vocab.json');
  for (const name of names) await fetchBytes(new URL(name, exportUrl)).catch(() => null);
}

async function exists(url) {
  try { return (await fetch(url, { method: 'HEAD' })).ok; } catch { return false; }
}

async function available() { // precision -> variant, for what the export holds
  const found = {};
  const idsOnly = params.get('input') === 'ids';
  for (const [precision, variants] of Object.entries(PRECISIONS)) {
    for (const variant of idsOnly ? variants.slice(1) : variants) {
      if (!found[precision] && await exists(new URL(FILES[variant], exportUrl))) found[precision] = variant;
    }
  }
  if (!found.fp32) throw new PageError(`no ${idsOnly ? '' : `${FILES.text} or `}${FILES.fp32} at ${exportUrl.pathname}: point export= at a folder written by 'toolkit export'`);
  return found;
}

async function loadModel(variant) {
  const name = FILES[variant];
  const bytes = await fetchBytes(new URL(name, exportUrl));
  const props = readMetadata(name, bytes);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['wasm'], graphOptimizationLevel: optimization, executionMode: 'sequential', logSeverityLevel: 3,
    });
  } catch (err) {
    throw new PageError(`${name} is not a model onnxruntime-web can load (${String(err.message || err).split('\n')[0]})`);
  }
  const meta = await checkMetadata(name, props, variant, session);
  const model = { variant, name, session, ...meta, bytes: bytes.length };
  if (!variant.startsWith('text')) {
    let spec;
    try {
      spec = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await fetchBytes(new URL('vocab.json', exportUrl))));
    } catch (err) {
      throw new PageError(err instanceof PageError ? err.message : `vocab.json is not JSON (${err.message}): export the run again`);
    }
    model.encode = tokenizer(spec, props, 'vocab.json');
  }
  return model;
}

// --- classifying --------------------------------------------------------------------------------------
function checkText(text, i) {
  if (typeof text !== 'string') throw new PageError(`review ${i + 1} is not text`);
  if (LONE_SURROGATE.test(text)) throw new PageError(`review ${i + 1} holds half of a UTF-16 pair: fix its encoding`);
}

function feeds(model, texts) {
  if (!model.encode) return { text: new ort.Tensor('string', texts, [texts.length]) };
  const rows = texts.map(model.encode); // pre-padded: to maxlen, or to the longest row (a masked model)
  const width = model.variableLength ? Math.max(...rows.map((r) => r.length)) : Number(model.props.get('preprocessing.maxlen'));
  const ids = new Int32Array(rows.length * width);
  rows.forEach((r, i) => ids.set(r, (i + 1) * width - r.length));
  return { token_ids: new ort.Tensor('int32', ids, [rows.length, width]) };
}

async function probabilities(model, texts) {
  texts.forEach(checkText);
  const out = (await model.session.run(feeds(model, texts))).probability;
  const k = model.labels.length === 2 ? 1 : model.labels.length;
  const data = out.data;
  out.dispose();
  if (out.dims.length !== 2 || out.dims[0] !== texts.length || out.dims[1] !== k) {
    throw new PageError(`${model.name} gave probabilities of shape [${out.dims}] for ${texts.length} review(s): export the run again`);
  }
  const rows = texts.map((t, i) => (k === 1 ? data[i] : Array.from(data.subarray(i * k, (i + 1) * k))));
  if (!rows.every((p) => [].concat(p).every(Number.isFinite))) throw new PageError(`${model.name} gave NaN or infinite probabilities: run 'toolkit verify' on the export`);
  return rows;
}

// The label, and what to show: two classes, the second label's probability against the threshold;
// K classes, the most probable first (ties: label order).
function judge(model, p) {
  const { labels, threshold } = model;
  if (labels.length === 2) return { label: labels[p >= threshold ? 1 : 0], probability: p, top: [] };
  const ranked = p.map((v, j) => j).sort((a, b) => p[b] - p[a] || a - b);
  const top = ranked.slice(0, Math.min(5, labels.length)).map((j) => ({ label: labels[j], probability: p[j] }));
  return { label: labels[ranked[0]], probability: p[ranked[0]], top };
}

const percent = (p) => `${(100 * p).toFixed(1)} %`;

function show(model, p, ms, text) {
  const { label, probability, top } = judge(model, p);
  const result = $('result');
  $('label').textContent = label;
  const two = model.labels.length === 2;
  $('probability').textContent = two ? `${model.labels[1]}: ${percent(probability)}` : percent(probability);
  $('bar').hidden = !two;
  $('ends').hidden = !two;
  if (two) {
    $('bar-fill').style.width = percent(probability).replace(' ', '');
    $('bar').setAttribute('aria-label', `probability of ${model.labels[1]}: ${percent(probability)}`);
    $('end-low').textContent = model.labels[0];
    $('end-high').textContent = model.labels[1];
  }
  $('top').hidden = two;
  $('top').replaceChildren(...top.map((t) => {
    const li = document.createElement('li');
    const bar = document.createElement('span');
    const fill = document.createElement('span');
    bar.className = 'bar';
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', percent(t.probability));
    fill.style.width = percent(t.probability).replace(' ', '');
    bar.append(fill);
    li.append(`${t.label}: ${percent(t.probability)}`, bar);
    return li;
  }));
  $('latency').textContent = `${ms.toFixed(1)} ms`;
  result.dataset.label = label;
  result.dataset.probability = JSON.stringify(p); // every digit, for the tests
  result.dataset.ms = String(ms);
  result.shownText = text; // what the result is for (the tests compare it with the box)
  result.dataset.seq = String(Number(result.dataset.seq || 0) + 1);
}

function clear() {
  for (const id of ['label', 'probability', 'latency']) $(id).textContent = '';
  for (const id of ['bar', 'ends', 'top']) $(id).hidden = true;
  const result = $('result');
  delete result.dataset.label;
  delete result.dataset.probability;
  result.shownText = '';
  result.dataset.seq = String(Number(result.dataset.seq || 0) + 1);
}

function status(text) {
  $('status').textContent = text;
}

function fail(message) { // a one-line error in its own alert region; null: none
  $('error').textContent = message === null ? '' : `error: ${message}`;
  $('error').hidden = message === null;
}

let current; // the model in use
let busy = false;
let pending = null;
let timer;

// One keystroke's work: classify the whole text and show it; returns the milliseconds it took
async function update(text) {
  const start = performance.now();
  if (BLANK.test(text)) { clear(); return performance.now() - start; }
  const model = current;
  const [p] = await probabilities(model, [text]);
  const ms = performance.now() - start;
  show(model, p, ms, text);
  return ms;
}

async function onInput() { // the latest text only: keystrokes during a run are not queued one by one
  if (busy) { pending = true; return; }
  busy = true;
  try {
    do {
      pending = false;
      await update($('review').value);
      fail(null);
    } while (pending);
  } catch (err) {
    fail(err.message);
  } finally {
    busy = false;
  }
}

let loading = 0; // the latest choose(): an older load that finishes later is dropped
let chosen; // the precision in use

async function choose(precision) {
  const ticket = ++loading;
  const select = $('variant');
  $('review').disabled = true;
  select.disabled = true;
  status(`Loading ${precision}…`);
  let model;
  try {
    model = models.get(precision) ?? await loadModel(found[precision]);
  } catch (err) {
    if (ticket === loading) { // back to the model in use, if any
      if (chosen) select.value = chosen;
      $('review').disabled = !current;
      select.disabled = Object.keys(found).length < 2 || !current;
      status(current ? `${current.name}: ready` : 'No model');
    }
    throw err;
  }
  models.set(precision, model);
  if (ticket !== loading) return;
  current = model;
  chosen = precision;
  select.value = precision;
  const how = current.variant.startsWith('text') ? 'the tokenizer runs inside the model' : 'tokenized in JavaScript from vocab.json';
  const seal = current.sealed ? 'metadata checked' : 'metadata seal not checked (not a secure context)';
  $('model-info').textContent = `${current.name} (${(current.bytes / 1e6).toFixed(2)} MB, ${how}; ${current.labels.length} classes; ${seal}; ${ort.env.wasm.numThreads} WASM thread${ort.env.wasm.numThreads > 1 ? 's' : ''})`;
  $('review').disabled = false;
  await warm(current);
  if (ticket !== loading) return;
  select.disabled = Object.keys(found).length < 2;
  status(`${current.name}: ready`);
  fail(null);
  if (pending || !BLANK.test($('review').value)) await onInput(); // keystrokes made during the warm-up
}

async function warm(model) {
  if (model.warmed) return;
  status(`${model.name}: warming up…`);
  const t0 = performance.now();
  for (let i = 0; i < warmRuns && performance.now() - t0 < WARM_MS && lastInput < t0; i++) {
    if (busy) break; // a keystroke's classification is running (onInput)
    busy = true;
    try { await probabilities(model, [WARM_TEXT]); } finally { busy = false; }
    await new Promise((resolve) => setTimeout(resolve, 0)); // a keystroke gets in between runs
  }
  model.warmed = true;
}

let found;

function folderUrl(name, fallback) {
  try {
    return new URL(folder(params.get(name) || fallback), location.href);
  } catch {
    throw new PageError(`the ${name} parameter is not a URL: ${short(params.get(name))}`);
  }
}

async function start() {
  exportUrl = folderUrl('export', 'export/');
  ortUrl = folderUrl('ort', 'ort/');
  for (const [name, url] of [['export', exportUrl], ['ort', ortUrl]]) {
    if (url.origin !== location.origin) throw new PageError(`the ${name} parameter must name a folder of this site, not ${url.origin}`);
  }
  debounceMs = whole(params.get('debounce'), debounceMs, 0, 10000, 'debounce');
  threads = whole(params.get('threads'), threads, 1, 64, 'threads');
  warmRuns = whole(params.get('warmup'), warmRuns, 0, 100000, 'warmup');
  optimization = params.get('opt') ?? optimization;
  if (!OPT_LEVELS.includes(optimization)) throw new PageError(`the opt parameter must be one of ${OPT_LEVELS.join(', ')}`);
  if (!['text', 'ids', null].includes(params.get('input'))) throw new PageError('the input parameter must be text or ids');
  try {
    ort = await import(new URL('ort.wasm.min.mjs', ortUrl).href);
  } catch (err) {
    throw new PageError(`onnxruntime-web could not be loaded from ${ortUrl.pathname}: run the page with 'toolkit web EXPORT'`);
  }
  ort.env.wasm.wasmPaths = ortUrl.href; // an absolute URL (see ../shared/DESIGN.md)
  ort.env.wasm.numThreads = threads > 1 && globalThis.crossOriginIsolated ? threads : 1;
  ort.env.wasm.proxy = false;
  found = await available();
  const select = $('variant');
  for (const precision of Object.keys(found)) {
    const option = document.createElement('option');
    option.value = precision;
    option.textContent = `${precision} (${FILES[found[precision]]})`;
    select.append(option);
  }
  select.value = params.get('model') && found[params.get('model')] ? params.get('model') : 'fp32';
  $('review').addEventListener('input', () => {
    lastInput = performance.now();
    clearTimeout(timer);
    timer = setTimeout(onInput, debounceMs);
  });
  await choose(select.value);
  select.addEventListener('change', () => choose(select.value).catch((err) => fail(err.message)));
  prefetch(); // in the background
  return { variants: found, model: current.variant, labels: current.labels, threads: ort.env.wasm.numThreads, optimization, warmup: warmRuns, isolated: globalThis.crossOriginIsolated, sealed: current.sealed };
}

// Milliseconds of classifying every text, `batch` at a time (the texts as given, in order)
async function time(texts, batch) {
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += batch) await probabilities(current, texts.slice(i, i + batch));
  return performance.now() - t0;
}

const ready = start();
ready.catch((err) => { fail(err.message); status('No model'); });
window.toolkitWeb = {
  ready,
  classify: async (texts) => { await ready; return probabilities(current, texts); },
  update: async (text) => { await ready; return update(text); },
  time: async (texts, batch) => { await ready; return time(texts, batch); },
  choose: async (precision) => { await ready; await choose(precision); return current.variant; },
  encode: async (texts) => { await ready; return current.encode ? texts.map(current.encode) : null; }, // ids models
};
