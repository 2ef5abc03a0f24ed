/**
 * The scoped-authorization guard's cost (instrumentation/guards/): one JWT verification on a
 * cache miss (RS256 2048-bit and ES256, against a static public key and against a JWKS served on
 * loopback, already fetched), and the decision on a cache hit: `resolveCaller` (SHA-256 of the
 * token, LRU lookup) plus `authorize` (target under 2 µs), with the SHA-256 alone for reference.
 *
 * Every figure is the median over rounds of (wall time of a loop of N sequential operations) / N.
 * Run: `npx tsc -p . && node dist/bench/authorization.js [--rounds N] [--quick]`.
 * Table to stdout, progress to stderr.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { type Authorization, createAuthorization } from '../instrumentation/guards/authorization.js';
import { VerifiedTokenCache } from '../instrumentation/guards/verified-token-cache.js';

const ISSUER = 'https://auth.example.test';
const AUDIENCE = 'https://mcp.example.test/mcp';
const TOOLS = { lookup_inventory: ['orders:read'], cancel_order: ['orders:write'], refund_order: ['orders:admin', 'orders:write'] };

/** One row of the table. */
export interface AuthorizationFigure {
  name: string;
  /** Median per-operation time in µs. */
  perOpUs: number;
  /** Range of the per-round figures. */
  minUs: number;
  maxUs: number;
  opsPerRound: number;
}

async function timeRounds(
  name: string,
  rounds: number,
  ops: number,
  body: (n: number) => Promise<void> | void,
): Promise<AuthorizationFigure> {
  await body(Math.min(ops, 200)); // warm-up: JIT, key import, JWKS fetch
  const perOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    await body(ops);
    perOp.push(Number(process.hrtime.bigint() - start) / 1000 / ops);
  }
  perOp.sort((a, b) => a - b);
  return { name, perOpUs: perOp[Math.floor(perOp.length / 2)]!, minUs: perOp[0]!, maxUs: perOp[perOp.length - 1]!, opsPerRound: ops };
}

/** Runs the bench; `log` gets progress lines. */
export async function runAuthorizationBench(
  options: { rounds?: number; quick?: boolean; log?: (line: string) => void } = {},
): Promise<AuthorizationFigure[]> {
  const rounds = options.rounds ?? (options.quick === true ? 3 : 7);
  const missOps = options.quick === true ? 300 : 2_000;
  const hitOps = options.quick === true ? 100_000 : 1_000_000;
  const log = options.log ?? (() => {});

  const signers = await Promise.all(
    (['RS256', 'ES256'] as const).map(async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `${alg.toLowerCase()}-1`;
      const token = await new SignJWT({ scope: 'orders:read orders:write', client_id: 'agent-7' })
        .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('user-1')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
      return { alg, kid, token, spki: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), kid, alg } };
    }),
  );
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: signers.map((s) => s.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;

  const figures: AuthorizationFigure[] = [];
  try {
    for (const signer of signers) {
      for (const source of ['static key', 'JWKS'] as const) {
        const guard = createAuthorization({
          tools: TOOLS,
          token: {
            issuer: ISSUER,
            audience: AUDIENCE,
            algorithms: [signer.alg],
            cacheSize: 0, // every call a miss
            ...(source === 'JWKS' ? { jwksUrl } : { key: signer.spki }),
          },
        });
        const header = `Bearer ${signer.token}`;
        log(`verify, cache miss, ${signer.alg} ${source}...`);
        figures.push(
          await timeRounds(`cache miss: verify ${signer.alg} (${source}) + authorize`, rounds, missOps, async (n) => {
            for (let i = 0; i < n; i++) {
              const caller = await guard.resolveCaller({ authorization: header });
              if (!guard.authorize('cancel_order', caller.scopes).allowed) throw new Error('bench token refused');
            }
          }),
        );
      }
    }

    const rs = signers[0]!;
    const guard: Authorization = createAuthorization({
      tools: TOOLS,
      token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], jwksUrl },
    });
    const header = `Bearer ${rs.token}`;
    await guard.resolveCaller({ authorization: header });
    log('cache hit...');
    figures.push(
      await timeRounds('cache hit: resolveCaller + authorize (allowed)', rounds, hitOps, (n) => {
        for (let i = 0; i < n; i++) {
          const caller = guard.resolveCaller({ authorization: header });
          if (caller instanceof Promise) throw new Error('expected a cache hit');
          if (!guard.authorize('cancel_order', caller.scopes).allowed) throw new Error('bench token refused');
        }
      }),
    );
    figures.push(
      await timeRounds('cache hit: resolveCaller + authorize (denied)', rounds, hitOps, (n) => {
        for (let i = 0; i < n; i++) {
          const caller = guard.resolveCaller({ authorization: header });
          if (caller instanceof Promise) throw new Error('expected a cache hit');
          if (guard.authorize('refund_order', caller.scopes).allowed) throw new Error('bench token allowed');
        }
      }),
    );
    let sink = 0;
    figures.push(
      await timeRounds(`SHA-256 of the token alone (${rs.token.length} chars)`, rounds, hitOps, (n) => {
        for (let i = 0; i < n; i++) sink += VerifiedTokenCache.keyOf(rs.token).length;
      }),
    );
    if (sink === 0) throw new Error('unreachable');
  } finally {
    server.close();
  }
  return figures;
}

/** The table, with the machine and the 2 µs target verdict. */
export function formatAuthorizationTable(figures: readonly AuthorizationFigure[], loadStart: number): string {
  const fmt = (us: number) => (us < 10 ? us.toFixed(2) : us.toFixed(1));
  const widths = [Math.max(...figures.map((f) => f.name.length), 9), 9, 15, 8];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const hits = figures.filter((f) => f.name.startsWith('cache hit'));
  const worstHit = Math.max(...hits.map((f) => f.perOpUs));
  return [
    `scoped authorization guard: per-operation cost, median of rounds (node ${process.version}, ${cpus().length} CPUs, load average ${loadStart.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)})`,
    '',
    line(['operation', 'µs/op', 'range', 'ops/round']),
    line(widths.map((w) => '-'.repeat(w))),
    ...figures.map((f) => line([f.name, fmt(f.perOpUs), `${fmt(f.minUs)}..${fmt(f.maxUs)}`, String(f.opsPerRound)])),
    '',
    `  ${worstHit < 2 ? 'met ' : 'MISS'}  cache-hit decision: ${fmt(worstHit)} µs (target < 2 µs)`,
  ].join('\n');
}

/** `node dist/bench/authorization.js [--rounds N] [--quick]`; also callable from bench/run.ts. */
export async function mainAuthorizationBench(argv: string[]): Promise<AuthorizationFigure[]> {
  const { values } = parseArgs({ args: argv, options: { rounds: { type: 'string' }, quick: { type: 'boolean' } }, strict: false });
  const loadStart = loadavg()[0]!;
  const figures = await runAuthorizationBench({
    ...(typeof values.rounds === 'string' ? { rounds: Number(values.rounds) } : {}),
    quick: values.quick === true,
    log: (l) => void process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`\n${formatAuthorizationTable(figures, loadStart)}\n`);
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainAuthorizationBench(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`authorization bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
