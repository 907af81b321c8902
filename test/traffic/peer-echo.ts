// Test fixture: a TCP server that tells each client the source address it saw, then closes.
// Usage: node peer-echo.ts <listen-ip> <port>. Prints "listening" once ready.
import { createServer } from 'node:net';

const [host, port] = process.argv.slice(2);
createServer((sock) => sock.end(`${sock.remoteAddress ?? '?'}\n`)).listen(Number(port), host, () => {
  process.stdout.write('listening\n');
});
