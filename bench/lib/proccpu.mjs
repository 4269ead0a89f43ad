// CPU time of a process that is not one of the bench's node children (redis-server, the Go peer),
// read from /proc, in the shape of the children's `cpu` command (bench/children/ipc.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second of /proc's utime and stime. */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * User + system CPU time `pid` has used so far (µs; all its threads), with the wall clock (ns).
 * @param {number} pid
 * @returns {{ cpuUs: number, wallNs: number }}
 */
export function procCpu(pid) {
  // /proc/<pid>/stat: utime and stime (fields 14 and 15) in clock ticks; the name field may hold spaces, so split after its ')'.
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { cpuUs: ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS, wallNs: Number(process.hrtime.bigint()) };
}
