// A fake peer for bench/transport/memory.mjs, in its own process so that what it holds does not
// count in the asker's memory. GET .../big:<n> answers a GetResponse of <n> MiB (Content-Length);
// .../cl1g:* announces a 1 GB Content-Length and streams zeros; .../endless:* streams zeros
// chunked, forever; POST (a batch) answers a streamed batch whose first frame announces 1 GB.
// Prints "ready <port>"; exits when stdin closes.
import http from 'node:http';

const values = new Map();
const chunk = Buffer.alloc(64 << 10);
/** Writes zeros until the client goes away, honouring backpressure. */
const pump = (res) => {
  while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', () => pump(res));
};
const varint = (n) => {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const server = http.createServer((req, res) => {
  res.on('error', () => {});
  if (req.method === 'POST') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/x-geecache-batch-stream' });
    res.write(Buffer.concat([Buffer.from([0x0a]), varint(1 << 30)]));
    return pump(res);
  }
  const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
  const [mode, arg] = key.split(':');
  if (mode === 'big') {
    const mib = Number(arg);
    let body = values.get(mib);
    if (!body) {
      const value = Buffer.alloc(mib << 20, 0x61);
      body = Buffer.concat([Buffer.from([0x0a]), varint(value.length), value]);
      values.set(mib, body);
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
    return void res.end(body);
  }
  if (mode === 'cl1g') {
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 1 << 30 });
    return pump(res);
  }
  if (mode === 'endless') {
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    return pump(res);
  }
  res.writeHead(404).end();
});
server.listen(0, '127.0.0.1', () => console.log(`ready ${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
