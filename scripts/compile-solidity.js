// Compiles one Solidity file with the pinned solc (npm, JS build) as the committed verifiers are
// compiled (solc-input.js: without the Yul optimizer), and prints the named contract's creation
// and runtime bytecode as JSON. For generated verifiers that are not committed (the benchmark's
// other arities).
//
//   node scripts/compile-solidity.js FILE.sol CONTRACT
'use strict';
const fs = require('fs');
const path = require('path');
const { compile } = require('./solc-input');

const [file, name] = process.argv.slice(2);
if (!file || !name) {
  process.stderr.write('usage: node scripts/compile-solidity.js FILE.sol CONTRACT\n');
  process.exit(2);
}
const key = path.basename(file);
const output = compile(
  { [key]: { content: fs.readFileSync(file, 'utf8') } },
  false,
  ['evm.bytecode.object', 'evm.deployedBytecode.object'],
);
const contract = output.contracts[key][name];
if (!contract) {
  process.stderr.write(`no contract ${name} in ${file}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify({
  bytecode: '0x' + contract.evm.bytecode.object,
  deployedSize: contract.evm.deployedBytecode.object.length / 2,
}) + '\n');
