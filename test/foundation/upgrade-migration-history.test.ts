import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../schema/index.ts';
import { PREVIOUS_MIGRATIONS } from './upgrade-fixtures.ts';

/**
 * Every committed migration and the sha256 of its text (the hash drizzle records in
 * drizzle.__drizzle_migrations). A database that applied a migration never applies it again,
 * so an edited migration changes nothing in the databases people have: a change to the schema
 * is a NEW file (`npm run db:generate -- NAME`), whose hash is added here in the same commit.
 */
const RECORDED: readonly (readonly [tag: string, sha256: string])[] = [
  ['0000_init', '57042de119266ad55b64900fdaa8ee22d1713db7cdecad24a2ffe1491988f30f'],
  ['0001_error-file-purpose', '2636e5be1644c6765555fc053de787c1631b9287ac938ef9768b3ff8225e3609'],
  ['0002_file-expiry', 'f064a6646e89c5eb9af3e435d68f6c7f7ae30c50b29c5a0470397810b84c20b6'],
  ['0003_worker-engine-models', '5be2b5fee7dff2fcd08b576303522965d0e50465951e64b0f2e84e6e98b0f28a'],
  ['0004_range-leases', 'cec7b1e1303fa44fe1b506f3131193a08a5b5331310d0f08e33d85a86e0af964'],
  ['0005_status-checks', '93234c02b9d3ae96e4b791482927a30568f85978a3642745ebf80115c732955b'],
  ['0006_steering', 'b815f5acab9d982fc555d4c0e7a09437057b7a2d01cb597dbb988c78bc17462d'],
  ['0007_curation', '7ee8305e9ba2bf10546693a0254346e88c5931aea4055b974a607e7df1cdd43f'],
];

interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}

const journal = (folder: string) =>
  (JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: JournalEntry[] }).entries;
const hashes = (folder: string) => {
  const applied = readMigrationFiles({ migrationsFolder: folder });
  return journal(folder).map((entry, i) => [entry.tag, applied[i]!.hash] as const);
};

describe('the committed migrations', () => {
  it('are the recorded ones, unchanged, each new one recorded when it is added', () => {
    const committed = hashes(MIGRATIONS_FOLDER);
    for (const [i, [tag, hash]] of RECORDED.entries()) {
      const found = committed[i];
      expect(found?.[0], `migration ${i} is ${tag}: a committed migration was renamed, removed or reordered`).toBe(tag);
      expect(
        found?.[1],
        `${tag}.sql was edited. Databases that applied it will never apply the change: put it in a new migration (npm run db:generate -- NAME) and restore ${tag}.sql`,
      ).toBe(hash);
    }
    const unrecorded = committed.slice(RECORDED.length).map(([tag, hash]) => `['${tag}', '${hash}'],`);
    expect(unrecorded, 'new migrations: add these lines to RECORDED in test/foundation/upgrade-migration-history.test.ts').toEqual([]);
  });

  it('run in the order they were written: runMigrations applies only those newer than the last one a database applied', () => {
    const entries = journal(MIGRATIONS_FOLDER);
    entries.forEach((entry, i) => {
      expect(entry.idx, entry.tag).toBe(i);
      expect(entry.tag.startsWith(`${String(i).padStart(4, '0')}_`), entry.tag).toBe(true);
      // One written with an older timestamp (a branch merged late) would be skipped by every database already past it.
      if (i > 0) expect(entry.when, `${entry.tag} is older than the migration before it`).toBeGreaterThan(entries[i - 1]!.when);
    });
    const files = readdirSync(MIGRATIONS_FOLDER)
      .filter((f) => f.endsWith('.sql'))
      .sort();
    expect(files, 'every .sql file is in meta/_journal.json (one that is not never runs)').toEqual(entries.map((e) => `${e.tag}.sql`));
  });

  it("begin with the previous release's, as the upgrade test builds its database from them", () => {
    const previous = hashes(PREVIOUS_MIGRATIONS);
    expect(previous.length).toBe(4);
    expect(hashes(MIGRATIONS_FOLDER).slice(0, previous.length)).toEqual(previous);
    expect(journal(MIGRATIONS_FOLDER).slice(0, previous.length)).toEqual(journal(PREVIOUS_MIGRATIONS));
  });
});
