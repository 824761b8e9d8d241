// Compiles one Solidity file with the pinned solc (npm, JS build), without the Yul optimizer, and prints the
// named contract's creation and runtime bytecode as JSON. For generated verifiers that are not
// committed (the benchmark's other arities).
//
//   node scripts/compile-solidity.js FILE.sol CONTRACT
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, '.tools', 'node_modules', 'solc'));
const [file, name] = process.argv.slice(2);
if (!file || !name) {
  process.stderr.write('usage: node scripts/compile-solidity.js FILE.sol CONTRACT\n');
  process.exit(2);
}
const input = {
  language: 'Solidity',
  sources: { [path.basename(file)]: { content: fs.readFileSync(file, 'utf8') } },
  settings: {
    // As scripts/compile-contracts.js compiles the committed verifiers.
    optimizer: { enabled: false, details: { deduplicate: true, cse: true, constantOptimizer: true } },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of errors) process.stderr.write(e.formattedMessage + '\n');
if (errors.length) process.exit(1);
const contract = output.contracts[path.basename(file)][name];
if (!contract) {
  process.stderr.write(`no contract ${name} in ${file}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify({
  bytecode: '0x' + contract.evm.bytecode.object,
  deployedSize: contract.evm.deployedBytecode.object.length / 2,
}) + '\n');
