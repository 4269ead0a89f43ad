// Mocha's spec reporter plus one plain summary line, "N passed, N failed" (", N skipped" when
// tests were skipped), that CI reads (an empty run must not look green). When tests were skipped
// for want of a tool, a last line names the missing Debian packages and the command that installs them.
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithSummary extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats;
      console.log(`${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}`);
      if (!pending) return;
      const { INSTALL_COMMAND, missingPackages } = require('./helpers/tools.mjs');
      const missing = missingPackages();
      if (missing.length > 0) {
        console.log(
          `skipped tests need Debian packages not installed here: ${missing.join(' ')}; install them with ${INSTALL_COMMAND} (as root, or with sudo), then run npm test again`,
        );
      }
    });
  }
}
module.exports = SpecWithSummary;
