// Compiles crates/contracts/contracts/**/*.sol with the pinned solc (npm, JS build) installed by
// scripts/tools.sh, and writes one artifact per contract to crates/contracts/artifacts/.
//
//   node scripts/compile-contracts.js           write the artifacts
//   node scripts/compile-contracts.js --check   fail if the committed artifacts differ
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, '.tools', 'node_modules', 'solc'));
const srcDir = path.join(root, 'crates', 'contracts', 'contracts');
const outDir = path.join(root, 'crates', 'contracts', 'artifacts');
// The contracts that get an artifact (libraries and interfaces are inlined or ABI-only).
const CONTRACTS = ['Bridgehub', 'ChainExecutor', 'MessageRoot', 'MockVerifier', 'IVerifier', 'MerkleHarness'];
const SIZE_LIMIT = 24576;

function sources(dir, prefix = '') {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const key = prefix + name;
    if (fs.statSync(full).isDirectory()) Object.assign(out, sources(full, key + '/'));
    else if (name.endsWith('.sol')) out[key] = { content: fs.readFileSync(full, 'utf8') };
  }
  return out;
}

const input = {
  language: 'Solidity',
  sources: sources(srcDir),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) process.stderr.write(e.formattedMessage + '\n');
if (errors.length) process.exit(1);

const artifacts = {};
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!CONTRACTS.includes(name)) continue;
    const deployed = c.evm.deployedBytecode.object;
    if (deployed.length / 2 > SIZE_LIMIT) {
      process.stderr.write(`${name} is ${deployed.length / 2} bytes, over the ${SIZE_LIMIT}-byte limit\n`);
      process.exit(1);
    }
    artifacts[name] = JSON.stringify(
      {
        contractName: name,
        sourceName: file,
        compiler: `solc ${solc.version()}`,
        abi: c.abi,
        bytecode: { object: '0x' + c.evm.bytecode.object },
        deployedBytecode: { object: '0x' + deployed },
      },
      null,
      2,
    ) + '\n';
  }
}

const check = process.argv.includes('--check');
let stale = [];
for (const name of CONTRACTS) {
  if (!artifacts[name]) {
    process.stderr.write(`no contract ${name} in the sources\n`);
    process.exit(1);
  }
  const file = path.join(outDir, `${name}.json`);
  if (check) {
    const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (committed !== artifacts[name]) stale.push(name);
  } else {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(file, artifacts[name]);
  }
}
if (check && stale.length) {
  process.stderr.write(`artifacts out of date: ${stale.join(', ')}; run \`make contracts\` and commit\n`);
  process.exit(1);
}
process.stderr.write(`${check ? 'checked' : 'wrote'} ${CONTRACTS.length} artifacts (solc ${solc.version()})\n`);
