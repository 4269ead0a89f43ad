// A fake clock (@sinonjs/fake-timers) for in-process tests whose only wait is for time to pass:
// a TTL, a hotTtlMs, a backoff. It fakes Date and performance (what geecache's expiries and
// lru-cache's TTLs read) and runs with real time, so requests still race their deadlines; jump()
// moves it ahead at once instead of sleeping. Timers stay real (HTTP between peers needs them).
import FakeTimers from '@sinonjs/fake-timers';
import { sleep } from './wait.mjs';

export interface JumpingClock {
  /** Moves the clock `ms` ahead. */
  jump(ms: number): Promise<void>;
  /** Gives Date and performance back. */
  uninstall(): void;
}

export function jumpingClock(): JumpingClock {
  const clock = FakeTimers.install({ now: Date.now(), toFake: ['Date', 'performance'], shouldAdvanceTime: true, advanceTimeDelta: 1 });
  // The fake performance.now() starts at 0, and lru-cache takes an entry stamped 0 for one
  // without a TTL (never stale): no reading may be 0.
  clock.tick(1);
  return {
    async jump(ms) {
      await clock.tickAsync(ms);
      // Clock readings are cached for 1 ms of real time (lru-cache's TTL clock, geecache's
      // CoarseClock): let those timers run before anything reads the jumped clock.
      await sleep(2);
    },
    uninstall: () => clock.uninstall(),
  };
}
