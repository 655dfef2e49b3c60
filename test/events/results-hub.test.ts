import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryBus, publishBatchProgress, publishBatchStatus, type EventBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createResultsHub, type ResultLine } from '../../gateway/subscriptions/results-hub.ts';
import type { Database } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';
import { insertBatch, readAll, readUntil } from './harness.ts';

const logger = createLogger({ level: 'silent' });

/** A batch with requests on the given input lines (a missing number is a blank line of the file). */
async function batchWithLines(database: Database, lines: number[], owner = 'local'): Promise<string> {
  const id = await insertBatch(database, { owner, total: lines.length });
  await database.db.execute(sql`insert into requests (batch_id, line, custom_id, model, body)
    select ${id}, l, 'row-' || l, 'sim-model', '{}' from unnest(${`{${lines.join(',')}}`}::int[]) as l`);
  return id;
}

const answer = (database: Database, batchId: string, lines: number[]) =>
  answerLines(database.db, batchId, {
    where: sql`r.line in (${sql.join(
      lines.map((l) => sql`${l}`),
      sql`, `,
    )})`,
    status: 'succeeded',
    statusCode: 200,
    response: sql`'{"line":' || r.line || '}'`,
  });

/** What a worker publishes after a result write: only the batch id matters to the hub. */
const written = (bus: EventBus, batchId: string) =>
  publishBatchProgress(bus, {
    batchId,
    owner: 'local',
    status: 'in_progress',
    total: 0,
    completed: 0,
    failed: 0,
    promptTokens: 0,
    completionTokens: 0,
  });

const ended = async (database: Database, bus: EventBus, batchId: string, status: 'completed' | 'cancelled') => {
  await database.db.execute(sql`update batches set status = ${status} where id = ${batchId}`);
  await publishBatchStatus(bus, { batchId, owner: 'local', from: 'in_progress', to: status });
};

describe.each(DRIVERS)('the results hub on %s', (driver) => {
  const db = useDriverDatabase(driver);

  it('sends a line only after every line before it, skips blank lines of the file, is woken by events alone, and ends with the batch', async () => {
    const database = db();
    const bus = createMemoryBus();
    // No poll in this test: only the batch's events may wake the subscriber.
    const hub = createResultsHub({ database, bus, logger, pollMs: 3_600_000, wakeMs: 0 });
    try {
      const id = await batchWithLines(database, [1, 2, 3, 4, 5, 7]);
      await answer(database, id, [2, 3]);
      const results = await hub.watch(id, 'local', 0);
      const got: ResultLine[] = [];
      const first = readUntil(results, (r) => r.line === 3);
      // Lines 2 and 3 are written, 1 is not: the subscriber waits at the gap.
      await answer(database, id, [1]);
      await written(bus, id);
      got.push(...(await first));
      expect(got.map((r) => r.line)).toEqual([1, 2, 3]);
      await answer(database, id, [5, 7]);
      await written(bus, id);
      await answer(database, id, [4]);
      await written(bus, id);
      const rest = readAll(results, { timeoutMs: 20_000 });
      await ended(database, bus, id, 'completed');
      got.push(...(await rest));
      expect(got.map((r) => r.line)).toEqual([1, 2, 3, 4, 5, 7]);
      expect(got[0]).toMatchObject({ customId: 'row-1', status: 'succeeded', file: 'output' });
      expect(JSON.parse(got[0]!.outputLine)).toMatchObject({
        custom_id: 'row-1',
        response: { status_code: 200, body: { line: 1 } },
        error: null,
      });
    } finally {
      await hub.close();
    }
  });

  it('starts at fromLine, skips the lines an ended batch left without a result, and ends at once past the end', async () => {
    const database = db();
    const bus = createMemoryBus();
    const hub = createResultsHub({ database, bus, logger });
    try {
      const id = await batchWithLines(database, [1, 2, 3, 4, 5, 6]);
      await answer(database, id, [1, 2, 4, 6]);
      await ended(database, bus, id, 'cancelled');
      expect((await readAll(await hub.watch(id, 'local', 2))).map((r) => r.line)).toEqual([2, 4, 6]);
      expect(await readAll(await hub.watch(id, 'local', 7))).toEqual([]);
      await expect(hub.watch(id, 'someone-else', 0)).rejects.toThrow(/No batch with id batch_\w+; check the id/);
      await expect(hub.watch('batch_missing', 'local', 0)).rejects.toThrow(/No batch with id batch_missing/);
      await expect(hub.watch(id, 'local', -1)).rejects.toThrow(/fromLine must be 0 or a positive line number/);
      expect(hub.batches).toBe(0);
    } finally {
      await hub.close();
    }
  });

  it('shares page reads among subscribers at the same place: 50 subscribers of a 600-line batch read each page once', async () => {
    const database = db();
    const bus = createMemoryBus();
    let pageReads = 0;
    const counting: Database = {
      ...database,
      db: new Proxy(database.db, {
        get(target, key, receiver) {
          if (key === 'execute')
            return (query: Parameters<Database['db']['execute']>[0]) => {
              pageReads += 1;
              return target.execute(query);
            };
          return Reflect.get(target, key, receiver);
        },
      }),
    };
    const hub = createResultsHub({ database: counting, bus, logger, pageLines: 256 });
    try {
      const lines = Array.from({ length: 600 }, (_, i) => i + 1);
      const id = await batchWithLines(database, lines);
      await answer(database, id, lines);
      await ended(database, bus, id, 'completed');
      const everyone = await Promise.all(Array.from({ length: 50 }, async () => readAll(await hub.watch(id, 'local', 0))));
      for (const got of everyone) expect(got.map((r) => r.line)).toEqual(lines);
      // Pages [0, 256), [256, 512), [512, 768): three reads, not 150.
      expect(pageReads).toBe(3);
      // Subscribers of one page receive the same objects (so one execution of the selection serves them all).
      expect(everyone[1]![0]).toBe(everyone[0]![0]);
    } finally {
      await hub.close();
    }
  });
});
