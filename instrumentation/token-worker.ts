/**
 * Worker thread that counts tokens for mcplens, so tokenizing (about 25 µs per KB with
 * o200k_base) never runs on the server's own thread. Messages: `{ id, texts }` in,
 * `{ id, counts }` out.
 */
import { parentPort } from 'node:worker_threads';
import { defaultTokenizer } from './token-counter.js';

const count = defaultTokenizer();
// The vocabulary is loaded: from now on counts come back in microseconds, not seconds.
parentPort?.postMessage({ ready: true });
parentPort?.on('message', (message: { id: number; texts: string[] }) => {
  let counts: number[] | undefined;
  try {
    counts = message.texts.map(count);
  } catch {
    counts = undefined;
  }
  parentPort?.postMessage({ id: message.id, counts });
});
