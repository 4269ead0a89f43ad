// Mocha's spec reporter plus one plain summary line, "N passed, N failed", that CI reads
// (an empty run must not look green).
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithSummary extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures } = runner.stats;
      console.log(`${passes} passed, ${failures} failed`);
    });
  }
}
module.exports = SpecWithSummary;
