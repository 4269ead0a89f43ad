// The tests' one helpers module. What the bench shares too (waiting, child processes, the Go
// peer, the machine's tools) is plain JavaScript with JSDoc types next to this file, so bench/
// imports those files under plain node; the rest imports lib/ sources and is for tests only.
export * from './child.mjs';
export * from './churn.mjs';
export * from './clock.js';
export * from './dnsmasq.js';
export * from './freshcluster.js';
export * from './gopeer.mjs';
export * from './modelcheck.js';
export * from './peer.js';
export * from './prometheus.js';
export * from './rawbody.mjs';
export * from './recordingproxy.js';
export * from './tagcluster.js';
export * from './tools.mjs';
export * from './wait.mjs';
