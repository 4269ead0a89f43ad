// Every bench row, in the order of the results table. A row is a module with a `name` (what
// `npm run bench -- <name>` selects), a `title` and `run()`: see bench/lib/types.d.ts.
import * as endToEnd from './end-to-end.mjs';
import * as getMany from './get-many.mjs';
import * as hitRatio from './hit-ratio.mjs';
import * as localHit from './local-hit.mjs';
import * as membership from './membership.mjs';
import * as memory from './memory.mjs';
import * as peerServe from './peer-serve.mjs';
import * as ring from './ring.mjs';
import * as scale from './scale.mjs';
import * as stampede from './stampede.mjs';
import * as tags from './tags.mjs';
import * as ttlHit from './ttl-hit.mjs';
import * as vsRedis from './vs-redis.mjs';

/** @type {import('../lib/types.js').Row[]} */
export const ROWS = [localHit, ttlHit, peerServe, endToEnd, vsRedis, stampede, ring, memory, membership, scale, getMany, tags, hitRatio];
