/**
 * Helpers of the ingest-abuse tests: the real `mcplens collector` command in a child process
 * (so its peak RSS can be read from /proc/<pid>/status, with this process' heap apart), raw
 * HTTP posts that report a status or a reset, OTLP/JSON bodies built as text, and the
 * collector's own count of `/v1/traces` answers by status code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ATTR, LABEL, MCP_METHOD, METRICS } from '../../contract/index.js';
import type { Sample } from './collector-harness.js';

const BIN = fileURLToPath(new URL('../../bin/mcplens.js', import.meta.url));

/** A collector started by the built `mcplens collector` command. */
export interface ChildCollector {
  child: ChildProcess;
  pid: number;
  url: string;
  /** SIGTERM, then SIGKILL after `ms`; resolves on exit. */
  stop(ms?: number): Promise<void>;
}

/** Starts `node dist/bin/mcplens.js collector --port 0 ...args` and waits for its address. */
export function spawnCollector(args: string[] = [], execArgv: string[] = []): Promise<ChildCollector> {
  const child = spawn(process.execPath, [...execArgv, BIN, 'collector', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (ms = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`collector did not start within 15 s: ${err}`));
    }, 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m && child.pid !== undefined) {
        clearTimeout(t);
        resolve({ child, pid: child.pid, url: m[1]!, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`collector exited with ${String(code)}: ${err}`));
    });
  });
}

/** A field of /proc/<pid>/status in bytes (`VmHWM`: peak resident set size; `VmRSS`: now). */
export function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** What a raw post got back: a status and its Retry-After, or a connection reset before any answer. */
export interface PostResult {
  status: number | 'reset';
  retryAfter?: string;
  body?: string;
}

/**
 * POSTs `body` to `url` + `path` on a fresh keep-alive connection, closed once answered. `chunked` sends it without Content-Length, in 64 KiB pieces.
 */
export function postRaw(
  url: string,
  body: Uint8Array,
  headers: Record<string, string>,
  opts: { chunked?: boolean; path?: string; timeoutMs?: number } = {},
): Promise<PostResult> {
  const u = new URL(`${url}${opts.path ?? '/v1/traces'}`);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        // One keep-alive connection per call (as exporters keep theirs), so concurrency is exactly the calls in flight.
        agent: new Agent({ keepAlive: true, maxSockets: 1 }),
        headers: opts.chunked ? headers : { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const socket = res.socket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          socket.destroy();
          done({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', () => done({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 'reset' });
    }, opts.timeoutMs ?? 60_000);
    // A refused upload may be cut while we still write: the answer, if it came, wins.
    req.on('error', () => setTimeout(() => done({ status: 'reset' }), 50));
    if (!opts.chunked) {
      req.end(body);
      return;
    }
    const piece = 64 * 1024;
    let at = 0;
    const pump = (): void => {
      while (at < body.length) {
        const ok = req.write(body.subarray(at, at + piece));
        at += piece;
        if (!ok) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** 32 or 16 lower-case hex digits from a number (never all zero). */
export function hexId(n: number, digits: 32 | 16): string {
  return (n + 1).toString(16).padStart(digits, '0');
}

/** Attributes of one span of {@link spansJson}. */
export type SpanAttrs = Record<string, string | number>;

/** An OTLP/JSON body of SERVER spans of `service`, one per attribute set. */
export function spansJson(service: string, attrs: readonly SpanAttrs[], idBase = 0): string {
  const spans = attrs.map((a, i) => {
    const attributes = Object.entries({ [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL, ...a }).map(([key, v]) => ({
      key,
      value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
    }));
    const start = 1_767_000_000_000_000_000n + BigInt(idBase + i) * 1_000_000n;
    return {
      traceId: hexId(idBase + i, 32),
      spanId: hexId(idBase + i, 16),
      name: 'tools/call',
      kind: 2,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(start + 20_000_000n),
      attributes,
    };
  });
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: ATTR.SERVICE_NAME, value: { stringValue: service } }] },
        scopeSpans: [{ scope: { name: 't' }, spans }],
      },
    ],
  });
}

/** Answers of `/v1/traces` by status code, as the collector counts them (its request-duration histogram). */
export function tracesAnswers(samples: readonly Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== `${METRICS.COLLECTOR_REQUEST_DURATION.name}_count` || s.labels[LABEL.ROUTE] !== '/v1/traces') continue;
    const code = s.labels[LABEL.STATUS_CODE]!;
    out[code] = (out[code] ?? 0) + s.value;
  }
  return out;
}
