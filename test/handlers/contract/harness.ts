/** A destination started for one contract test: where a built-in handler delivers, observed from outside. */
export interface Destination {
  /** Per-batch options that make the handler deliver here. */
  options: Record<string, unknown>;
  /** Deployment options, as the built-in manifest would give them. */
  deployment: Record<string, unknown>;
  /** How many results the destination holds for the batch so far (counted by the destination). */
  count(batchId: string): Promise<number>;
  /** How many results a run over `n` results ends with at the destination. */
  expected(n: number): number;
  /** How many results arrived more than once. */
  duplicates(batchId: string): Promise<number>;
  /** Lets `okFirst` more writes succeed, then fails the next one with a transient error. */
  failAfter(okFirst: number): Promise<void>;
  close(): Promise<void>;
}

/** What the shared contract needs to test one handler of the built-in manifest. */
export interface HandlerHarness {
  name: string;
  start(): Promise<Destination>;
  /** Per-batch options that must be refused, and the `handlers.<name>.<option>: ...` text the error must contain. */
  invalid: { options: Record<string, unknown>; problem: string }[];
}
