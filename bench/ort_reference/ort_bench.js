#!/usr/bin/env node
// Reference timing of ONNX Runtime (onnxruntime-node, CPU EP) on one ONNX model
// and one KServe v2 inference request, for comparison with rtml's engine.
//
//   node ort_bench.js MODEL.onnx --request REQ.json [--seconds S] [--threads N]
//                                [--warmup S] [--print-outputs] [--model-name NAME]
//
// Benchmark mode prints exactly one JSON line on stdout:
//   {"model":..,"runtime":"onnxruntime-node <v>","batch":..,"iterations":..,
//    "per_call_ns_p50":..,"per_call_ns_p99":..,"calls_per_s":..}
// --print-outputs runs the request once and prints a KServe v2 response body.
// On any error: exit status != 0 and one line "ort_bench: error: ..." on stderr.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const USAGE =
  'usage: node ort_bench.js MODEL.onnx --request REQ.json [--seconds S] [--threads N] ' +
  '[--warmup S] [--print-outputs] [--model-name NAME]';

class UsageError extends Error {}

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = {
    model: null,
    request: null,
    seconds: 3,
    threads: 1,
    warmup: 0.5,
    printOutputs: false,
    modelName: null,
  };
  const takeValue = (i, flag) => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[i + 1];
  };
  const positiveNumber = (text, flag) => {
    const v = Number(text);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${flag} must be a positive number, got '${text}'`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      case '--request':
        opts.request = takeValue(i++, a);
        break;
      case '--seconds':
        opts.seconds = positiveNumber(takeValue(i++, a), a);
        break;
      case '--warmup': {
        const text = takeValue(i++, a);
        const v = Number(text);
        if (!Number.isFinite(v) || v < 0) throw new UsageError(`--warmup must be a number >= 0, got '${text}'`);
        opts.warmup = v;
        break;
      }
      case '--threads': {
        const v = positiveNumber(takeValue(i++, a), a);
        if (!Number.isInteger(v)) throw new UsageError(`--threads must be a positive integer, got '${v}'`);
        opts.threads = v;
        break;
      }
      case '--print-outputs':
        opts.printOutputs = true;
        break;
      case '--model-name':
        opts.modelName = takeValue(i++, a);
        break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
        if (opts.model !== null) throw new UsageError(`unexpected extra argument '${a}'`);
        opts.model = a;
    }
  }
  if (opts.model === null) throw new UsageError('missing MODEL.onnx');
  if (opts.request === null) throw new UsageError('missing --request REQ.json');
  return opts;
}

// ---------------------------------------------------- KServe v2 -> ORT tensors

// KServe v2 datatype -> onnxruntime-node tensor type.
const V2_TO_ORT = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const ORT_TO_V2 = Object.fromEntries(Object.entries(V2_TO_ORT).map(([k, v]) => [v, k]));

const INT_RANGES = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};
const TYPED_ARRAY = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

// KServe v2 allows tensor data flat or nested (row-major); flatten either.
function flatten(data, out) {
  for (const v of data) {
    if (Array.isArray(v)) flatten(v, out);
    else out.push(v);
  }
  return out;
}

function toFloat(v, where) {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity' || v === 'inf') return Infinity;
  if (v === '-Infinity' || v === '-inf') return -Infinity;
  throw new Error(`${where}: expected a number, got ${JSON.stringify(v)}`);
}

function toBigInt(v, where, unsigned) {
  let b;
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (!Number.isSafeInteger(v)) {
      throw new Error(`${where}: ${v} is beyond 2^53 and lost precision in JSON; pass it as a string`);
    }
    b = BigInt(v);
  } else if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) {
    b = BigInt(v.trim());
  } else {
    throw new Error(`${where}: expected an integer, got ${JSON.stringify(v)}`);
  }
  const lo = unsigned ? 0n : -(1n << 63n);
  const hi = unsigned ? (1n << 64n) - 1n : (1n << 63n) - 1n;
  if (b < lo || b > hi) throw new Error(`${where}: ${b} out of range`);
  return b;
}

function buildTensor(ort, input, index) {
  const where0 = `request input #${index}`;
  if (input === null || typeof input !== 'object') throw new Error(`${where0} is not an object`);
  const { name, shape, datatype, data } = input;
  if (typeof name !== 'string' || name === '') throw new Error(`${where0}: missing "name"`);
  const where = `input '${name}'`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: "shape" must be an array of non-negative integers`);
  }
  if (typeof datatype !== 'string' || !(datatype in V2_TO_ORT)) {
    throw new Error(`${where}: unsupported datatype ${JSON.stringify(datatype)} (supported: ${Object.keys(V2_TO_ORT).join(', ')})`);
  }
  if (!Array.isArray(data)) throw new Error(`${where}: "data" must be an array`);
  const flat = flatten(data, []);
  const count = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== count) {
    throw new Error(`${where}: shape [${shape.join(',')}] needs ${count} elements, "data" has ${flat.length}`);
  }
  const type = V2_TO_ORT[datatype];
  let values;
  switch (type) {
    case 'float32':
    case 'float64':
      values = TYPED_ARRAY[type].from(flat, (v, i) => toFloat(v, `${where}[${i}]`));
      break;
    case 'int64':
    case 'uint64': {
      const unsigned = type === 'uint64';
      values = (unsigned ? BigUint64Array : BigInt64Array).from(flat, (v, i) => toBigInt(v, `${where}[${i}]`, unsigned));
      break;
    }
    case 'bool':
      values = Uint8Array.from(flat, (v, i) => {
        if (v === true || v === 1) return 1;
        if (v === false || v === 0) return 0;
        throw new Error(`${where}[${i}]: expected true/false, got ${JSON.stringify(v)}`);
      });
      break;
    case 'string':
      values = flat.map((v, i) => {
        if (typeof v !== 'string') throw new Error(`${where}[${i}]: BYTES elements must be JSON strings`);
        return v;
      });
      break;
    default: {
      const [lo, hi] = INT_RANGES[type];
      values = TYPED_ARRAY[type].from(flat, (v, i) => {
        if (!Number.isInteger(v) || v < lo || v > hi) {
          throw new Error(`${where}[${i}]: expected an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
        }
        return v;
      });
    }
  }
  return { name, datatype, shape, tensor: new ort.Tensor(type, values, shape) };
}

function readRequest(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read request '${file}': ${e.message}`);
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new Error(`request '${file}' is not valid JSON: ${e.message}`);
  }
  if (body === null || typeof body !== 'object' || !Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw new Error(`request '${file}' has no non-empty "inputs" array (expected a KServe v2 inference request body)`);
  }
  return body;
}

// Map request inputs onto the session's inputs, checking names and element types.
function buildFeeds(ort, session, body) {
  const byName = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const feeds = {};
  const built = body.inputs.map((inp, i) => buildTensor(ort, inp, i));
  for (const b of built) {
    const meta = byName.get(b.name);
    if (!meta) throw new Error(`request input '${b.name}' is not a model input (model inputs: ${session.inputNames.join(', ')})`);
    if (b.name in feeds) throw new Error(`request input '${b.name}' appears twice`);
    if (meta.isTensor && meta.type !== b.tensor.type) {
      const want = ORT_TO_V2[meta.type] || meta.type;
      throw new Error(`input '${b.name}': request datatype ${b.datatype} but the model expects ${want}`);
    }
    feeds[b.name] = b.tensor;
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new Error(`request lacks model input(s): ${missing.join(', ')}`);
  return { feeds, built };
}

// onnxruntime-node can only hand tensors back to JS: asking for a non-tensor
// output (e.g. ZipMap's sequence<map>) makes run() throw. So we fetch the
// tensor outputs only (or the request's "outputs" subset, which must be tensors).
function chooseFetches(session, body) {
  const meta = new Map(session.outputMetadata.map((m) => [m.name, m]));
  if (Array.isArray(body.outputs) && body.outputs.length > 0) {
    return body.outputs.map((o, i) => {
      const name = o && o.name;
      if (!meta.has(name)) throw new Error(`requested output #${i} ${JSON.stringify(name)} is not a model output`);
      if (!meta.get(name).isTensor) {
        throw new Error(`requested output '${name}' is not a tensor; onnxruntime-node cannot return non-tensor outputs`);
      }
      return name;
    });
  }
  const fetches = session.outputNames.filter((n) => meta.get(n).isTensor);
  if (fetches.length === 0) throw new Error('the model has no tensor outputs; onnxruntime-node cannot return non-tensor outputs');
  return fetches;
}

// ------------------------------------------------------ ORT -> KServe v2 JSON

// Shortest decimal that reads back to the same float32 value.
function formatFloat32(x) {
  if (!Number.isFinite(x)) return 'null';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

function formatData(tensor) {
  const d = tensor.data;
  switch (tensor.type) {
    case 'float32':
      return Array.from(d, formatFloat32).join(',');
    case 'float64':
      return Array.from(d, (x) => (Number.isFinite(x) ? String(x) : 'null')).join(',');
    case 'bool':
      return Array.from(d, (x) => (x ? 'true' : 'false')).join(',');
    case 'string':
      return d.map((s) => JSON.stringify(s)).join(',');
    default: // integers, including BigInt64/BigUint64 (printed exactly)
      return Array.from(d, (x) => x.toString()).join(',');
  }
}

function responseJson(modelName, body, fetches, results) {
  const outs = fetches.map((name) => {
    const t = results[name];
    const datatype = ORT_TO_V2[t.type];
    if (!datatype) throw new Error(`output '${name}' has tensor type ${t.type}, which has no KServe v2 datatype here`);
    return (
      `{"name":${JSON.stringify(name)},"shape":[${t.dims.join(',')}],` +
      `"datatype":"${datatype}","data":[${formatData(t)}]}`
    );
  });
  const id = typeof body.id === 'string' ? `,"id":${JSON.stringify(body.id)}` : '';
  return `{"model_name":${JSON.stringify(modelName)}${id},"outputs":[${outs.join(',')}]}`;
}

// ------------------------------------------------------------------- timing

function percentile(sorted, p) {
  // nearest-rank
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

async function bench(session, feeds, fetches, seconds, warmupSeconds) {
  // Warm-up: at least 3 calls and at least warmupSeconds.
  const warmEnd = process.hrtime.bigint() + BigInt(Math.round(warmupSeconds * 1e9));
  for (let i = 0; i < 3 || process.hrtime.bigint() < warmEnd; i++) {
    await session.run(feeds, fetches);
  }

  let samples = new Float64Array(1 << 16);
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let t1;
  do {
    const t0 = process.hrtime.bigint();
    await session.run(feeds, fetches);
    t1 = process.hrtime.bigint();
    if (n === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[n++] = Number(t1 - t0);
  } while (t1 < deadline);
  const elapsedNs = Number(t1 - start);

  const sorted = samples.subarray(0, n).sort();
  return {
    iterations: n,
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    callsPerS: n / (elapsedNs / 1e9),
  };
}

// --------------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node (run 'npm ci' in ${__dirname}): ${e.message}`);
  }
  const version = require('onnxruntime-node/package.json').version;

  if (!fs.existsSync(opts.model)) throw new Error(`model file '${opts.model}' not found`);
  const body = readRequest(opts.request);

  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new Error(`cannot load model '${opts.model}': ${e.message}`);
  }

  try {
    const { feeds, built } = buildFeeds(ort, session, body);
    const fetches = chooseFetches(session, body);
    const base = path.basename(opts.model);

    if (opts.printOutputs) {
      const results = await session.run(feeds, fetches);
      const modelName = opts.modelName ?? base.replace(/\.onnx$/i, '');
      process.stdout.write(responseJson(modelName, body, fetches, results) + '\n');
      return;
    }

    const firstShape = built[0].shape;
    const batch = firstShape.length > 0 ? firstShape[0] : 1;
    const r = await bench(session, feeds, fetches, opts.seconds, opts.warmup);
    process.stdout.write(
      `{"model":${JSON.stringify(base)},"runtime":${JSON.stringify(`onnxruntime-node ${version}`)},` +
        `"batch":${batch},"iterations":${r.iterations},"per_call_ns_p50":${r.p50},` +
        `"per_call_ns_p99":${r.p99},"calls_per_s":${r.callsPerS.toFixed(1)}}\n`,
    );
  } finally {
    await session.release();
  }
}

main().catch((e) => {
  const msg = String((e && e.message) || e).replace(/\s*\n\s*/g, ' ').trim();
  process.stderr.write(`ort_bench: error: ${msg}${e instanceof UsageError ? ` (${USAGE})` : ''}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
