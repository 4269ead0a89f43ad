// Loaded by `npm run test:unit` and `npm test` (mocha --require), before any test file: chai
// without its Proxy wrapper. The wrapper only turns a misspelt assertion (`.to.be.ture`) into an
// error at run time; here `npm run typecheck` refuses one first (chai's types have no such
// property), and the wrapper made every `expect` several times dearer: in the property tests'
// loops of thousands of checks it was most of their CPU time.
require('chai').config.useProxy = false;
