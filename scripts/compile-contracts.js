// Compiles crates/contracts/contracts/**/*.sol with the pinned solc (npm, JS build) installed by
// scripts/tools.sh, and writes one artifact per contract to crates/contracts/artifacts/.
//
//   node scripts/compile-contracts.js           write the artifacts
//   node scripts/compile-contracts.js --check   fail if the committed artifacts differ
'use strict';
const fs = require('fs');
const path = require('path');
const { solc, VERIFIERS, sourceSets, compile } = require('./solc-input');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'crates', 'contracts', 'artifacts');
// The contracts that get an artifact (libraries and interfaces are inlined or ABI-only), and the
// generated verifiers when they are there (see solc-input.js).
const CONTRACTS = [
  'Bridgehub', 'ChainExecutor', 'MessageRoot', 'MockVerifier', 'IVerifier', 'MerkleHarness',
  'Halo2BatchVerifier', 'Halo2AggregatedVerifier', 'GatewayExecutor', 'MockAggregatedVerifier',
  'L2Messenger', 'L2Inbox', 'L2Bridge', 'GatewayFees', 'InteropRoots', 'MessageVerifier', 'Forwarder',
];
const SIZE_LIMIT = 24576;

const sets = sourceSets();
const compiled = sets.map(
  (set) => compile(set.sources, set.optimize, ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object']).contracts,
);
const wanted = [...CONTRACTS];
if (sets.length > 1) wanted.push(...VERIFIERS);

const artifacts = {};
for (const [file, contracts] of compiled.flatMap((c) => Object.entries(c))) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!wanted.includes(name)) continue;
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
for (const name of wanted) {
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
process.stderr.write(`${check ? 'checked' : 'wrote'} ${wanted.length} artifacts (solc ${solc.version()})\n`);
