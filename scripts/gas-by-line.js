// Adds up a traced transaction's gas by line of a contract's Solidity sources.
//
//   GAS_PROFILE_PCS=/tmp/pcs cargo run --release -p example-bench-gateway
//   node scripts/gas-by-line.js /tmp/pcs/<tx hash>.txt [Contract] [rows]
//
// The input (devnet::gas_profile, `PCS_ENV`) has one line per step of one call frame of the
// transaction (`<hash>.txt` the top frame, `<hash>.frame<N>.depth<D>.txt` the others): program
// counter, opcode, gas (a call's including everything inside it). The contract (default
// GatewayExecutor; a generated verifier such as Halo2TreeVerifier for its frame) is compiled here
// with the settings of its artifact (solc-input.js) to get its deployed code's source map; each
// step's gas goes to the source line its instruction came from (storage, log and call opcodes
// each under their own name, a compiler-generated helper under `generated`). Prints the top rows
// (default 40), largest first.
'use strict';
const fs = require('fs');
const { srcDir, VERIFIERS, sourceSets, compile } = require('./solc-input');

const [file, name = 'GatewayExecutor', rowsArg = '40'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node scripts/gas-by-line.js <steps file> [Contract] [rows]\n');
  process.exit(2);
}

// The source set the contract is compiled in (a generated verifier's own, or the contracts'),
// with the same settings as its artifact (solc-input.js).
const sets = sourceSets();
const set = VERIFIERS.includes(name) ? sets[1] : sets[0];
if (!set) {
  process.stderr.write(`no generated verifiers under ${srcDir}\n`);
  process.exit(1);
}
const srcs = set.sources;
const output = compile(srcs, set.optimize, ['evm.deployedBytecode.object', 'evm.deployedBytecode.sourceMap']);
const contract = Object.values(output.contracts || {}).map((c) => c[name]).find(Boolean);
if (!contract) {
  process.stderr.write(`no contract ${name} under ${srcDir}\n`);
  process.exit(1);
}
const fileOf = {};
for (const [f, s] of Object.entries(output.sources)) fileOf[s.id] = f;

// Program counter -> instruction index (PUSH1..PUSH32 carry 1..32 bytes of data).
const code = Buffer.from(contract.evm.deployedBytecode.object, 'hex');
const indexOf = new Map();
for (let pc = 0, i = 0; pc < code.length; i++) {
  indexOf.set(pc, i);
  const op = code[pc];
  pc += op >= 0x60 && op <= 0x7f ? op - 0x5e : 1;
}
// Instruction index -> [start, length, source file id] (the compressed source map).
const map = [];
let last = [0, 0, -1];
for (const entry of contract.evm.deployedBytecode.sourceMap.split(';')) {
  const parts = entry.split(':');
  const cur = last.slice();
  for (let k = 0; k < 3; k++) if (parts[k] !== undefined && parts[k] !== '') cur[k] = +parts[k];
  map.push(cur);
  last = cur;
}
const lineStarts = {};
function lineOf(f, offset) {
  if (!lineStarts[f]) {
    lineStarts[f] = [0];
    const text = srcs[f].content;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts[f].push(i + 1);
  }
  const starts = lineStarts[f];
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
  }
  return lo + 1;
}

const NAMED = /^(SLOAD|SSTORE|LOG[0-4]|CALL|STATICCALL|DELEGATECALL)$/;
const byLine = new Map();
let total = 0;
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  if (!line) continue;
  const [pc, op, cost] = line.split(' ');
  total += +cost;
  const at = map[indexOf.get(+pc)];
  const f = at && fileOf[at[2]];
  let key = f && srcs[f] ? `${f}:${lineOf(f, at[0])}` : 'generated';
  if (NAMED.test(op)) key = `${op} @ ${key}`;
  byLine.set(key, (byLine.get(key) || 0) + +cost);
}
console.log(`${total} gas in the frame's steps (a top frame's intrinsic gas is not in them)`);
for (const [key, gas] of [...byLine.entries()].sort((a, b) => b[1] - a[1]).slice(0, +rowsArg)) {
  const m = key.match(/([^ ]+\.sol):(\d+)$/);
  const text = m ? (srcs[m[1]].content.split('\n')[+m[2] - 1] || '').trim().slice(0, 80) : '';
  console.log(`${String(gas).padStart(9)}  ${key.padEnd(36)} ${text}`);
}
