'use strict';
// Loads the native module that `npm install` (scripts/build.mjs) compiles from the Rust core.
const path = require('node:path');

const file = path.join(__dirname, 'clawsocket.node');
try {
  module.exports = require(file);
} catch (err) {
  err.message =
    `clawsocket: cannot load the native module ${file}; build it with \`npm run build\` in ` +
    `${__dirname} (needs the Rust toolchain): ${err.message}`;
  throw err;
}
