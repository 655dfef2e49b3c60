import { sleep } from './backoff.ts';

/** Tracks whether the engine is reachable; requests wait at the gate while it is not. */
export interface EngineGate {
  readonly up: boolean;
  /** How long the engine has been unreachable now; 0 while it is up. */
  downForMs(): number;
  /** Resolves once the engine answers /health (at once when it is up), or when the signal aborts. */
  ready(signal?: AbortSignal): Promise<void>;
  /** Says the engine could not be reached; probing /health starts. */
  reportDown(): void;
  /** Stops probing (a probe in progress is told through its signal) and lets every waiter go. */
  close(): void;
}

/** Options for {@link createEngineGate}. */
export interface EngineGateOptions {
  /** One probe; `signal` aborts when the gate is closed. */
  health: (signal: AbortSignal) => Promise<boolean>;
  probeMs: number;
  onChange?: (up: boolean) => void;
}

/**
 * The engine's availability. A connection failure closes the gate and one probe loop
 * polls /health; every request that could not reach the engine waits here instead of
 * spending its retries (and its lease attempts) against a server that is restarting.
 */
export function createEngineGate({ health, probeMs, onChange }: EngineGateOptions): EngineGate {
  let up = true;
  let downSince = 0;
  const closing = new AbortController();
  let opened: Promise<void> = Promise.resolve();
  let open = () => {};
  const probe = async () => {
    while (!closing.signal.aborted && !(await health(closing.signal))) await sleep(probeMs, closing.signal);
    if (closing.signal.aborted) return;
    up = true;
    onChange?.(true);
    open();
  };
  return {
    get up() {
      return up;
    },
    downForMs: () => (up ? 0 : Date.now() - downSince),
    ready(signal) {
      if (up) return Promise.resolve();
      return Promise.race([opened, new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }))]);
    },
    reportDown() {
      if (!up || closing.signal.aborted) return;
      up = false;
      downSince = Date.now();
      opened = new Promise((resolve) => (open = resolve));
      onChange?.(false);
      void probe();
    },
    close() {
      closing.abort();
      open();
    },
  };
}
