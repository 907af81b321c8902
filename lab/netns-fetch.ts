/**
 * One HTTP request from inside a network namespace: the lab process lives in the root namespace
 * and cannot reach the API server double on the underlay, so it runs this under `ip netns exec`.
 * Reads {method, url, body?, headers?} as JSON on stdin; prints {status, body} as JSON.
 */
import { text } from 'node:stream/consumers';

interface Request {
  readonly method: string;
  readonly url: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

const req = JSON.parse(await text(process.stdin)) as Request;
const res = await fetch(req.url, {
  method: req.method,
  ...(req.body !== undefined ? { body: req.body } : {}),
  ...(req.headers !== undefined ? { headers: req.headers } : {}),
});
process.stdout.write(JSON.stringify({ status: res.status, body: await res.text() }) + '\n');
