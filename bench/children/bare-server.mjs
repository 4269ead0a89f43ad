// The peer-serve row's reference: a bare node:http server answering every request with the same protobuf
// bytes (and headers) as geecache's peer route does for the hot key.
import http from 'node:http';
import { encodeGetResponse } from '../../dist/protocol/wire.js';
import { config, cpuSample, ready, serve, valueFor } from './ipc.mjs';

const body = Buffer.from(encodeGetResponse(valueFor(config.key, config.valueBytes)));
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
  res.end(body);
});
serve({ cpu: () => cpuSample() });
server.listen({ port: config.port, host: '127.0.0.1', backlog: 4096 }, () => ready(/** @type {import('node:net').AddressInfo} */ (server.address()).port));
