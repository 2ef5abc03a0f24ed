/**
 * Worker thread that counts tokens for mcplens, so tokenizing (about 25 µs per KB with
 * o200k_base) never runs on the server's own thread. Messages: `{ id, texts }` in,
 * `{ id, counts }` out; `counts` is undefined when any text of the message failed.
 *
 * Counting is linear and bounded (defaultTokenizer()), and a text longer than
 * MAX_PAYLOAD_CHARS is refused by a throw (PayloadTooLargeError), which fails its whole
 * message: senders leave such texts out (and record them as `too_large`) rather than post them.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { defaultTokenizer } from './token-counter.js';

/** The lowest scheduling priority (nice 19). */
const LOWEST_PRIORITY = 19;

/**
 * Counting is background work: where cores are scarce it must not take CPU from the
 * server's thread or V8's garbage-collector threads (on a busy 2-vCPU machine it did,
 * and 10 KB results answered slower than 100-byte ones). Linux keeps a nice value per
 * thread, and setpriority() accepts a thread id, so this lowers this thread only.
 * Elsewhere, or if refused, counting runs at normal priority.
 */
function lowerOwnPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, LOWEST_PRIORITY);
  } catch {
    // No /proc, or a sandbox refusing setpriority(): normal priority.
  }
}

lowerOwnPriority();
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
