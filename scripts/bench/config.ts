// The benchmarks' configuration: the only file of scripts/bench/ that reads the environment.

const env = process.env;

/** Where the scratch databases are created (the maintenance database of the server). */
export const ADMIN_URL = env.BENCH_POSTGRES_URL ?? env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The Redis server of the benchmarks that use the event bus. */
export const REDIS_URL = env.BENCH_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Tags the scratch databases' names (parallel runs on one server). */
export const DB_TAG = env.BENCH_DB_TAG ?? '';

/** Children's output is shown, not only kept. */
export const VERBOSE = Boolean(env.BENCH_VERBOSE);

/** Whether Bun's fetch limit was raised when this process started (it can only be set then). */
export const FETCH_LIMIT_RAISED = Boolean(env.BUN_CONFIG_MAX_HTTP_REQUESTS);

/** Started as `npm run bench` (the command printed with the results says so). */
export const STARTED_BY_NPM = env.npm_lifecycle_event === 'bench';

/** The environment children inherit. */
export const INHERITED_ENV: Record<string, string | undefined> = env;
