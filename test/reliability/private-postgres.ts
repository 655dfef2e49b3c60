import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runToEnd } from '../helpers/processes.ts';

/** A Postgres cluster of the test's own, which it may restart without disturbing other tests. */
export interface PrivatePostgres {
  /** The `postgres` database of the cluster (trust auth). */
  url: string;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back when it resolves. */
  restart(): Promise<void>;
  /** Runs `during` while the server is stopped (`-m fast`), then starts it again. */
  outage(during: () => Promise<void>): Promise<void>;
  /** Stops the cluster and removes its directory. */
  stop(): Promise<void>;
}

/** The newest installed Postgres server's bin directory (Debian's layout). */
function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('no Postgres server under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/**
 * Creates and starts a throw-away cluster (initdb into a temporary directory, trust auth,
 * no fsync) on a free port. Postgres refuses to run as root: as root, it runs as `postgres`.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'vbs-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot)
    chownSync(
      dir,
      Number((await runToEnd('id', ['-u', 'postgres'])).stdout.trim()),
      Number((await runToEnd('id', ['-g', 'postgres'])).stdout.trim()),
    );
  const run = async (command: string, args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', `${bin}/${command}`, ...args]] : [`${bin}/${command}`, args];
    const result = await runToEnd(cmd as string, argv as string[], { timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}):\n${result.stdout}${result.stderr}`);
  };
  const port = await freePort();
  await run('initdb', ['-D', dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  await run('pg_ctl', ['-D', dir, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    // -l again: without it the server's output would hold pg_ctl's pipes open.
    restart: () => run('pg_ctl', ['-D', dir, '-o', options, '-l', join(dir, 'server.log'), '-m', 'fast', '-w', 'restart']),
    async outage(during) {
      await run('pg_ctl', ['-D', dir, '-m', 'fast', '-w', 'stop']);
      try {
        await during();
      } finally {
        await run('pg_ctl', ['-D', dir, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
      }
    },
    async stop() {
      await run('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
