// The GraphQL documents of the dashboard's charts, and the shapes of what they return (schema.graphql).

/** A model's samples: rates since the sample before (null without one shortly before) and the queue then. */
export interface FleetSeries {
  model: string;
  points: { at: string; requestsPerSecond: number | null; tokensPerSecond: number | null; queued: number }[];
}

/** A worker as its load chart shows it. */
export interface WorkerLoad {
  id: string;
  host: string;
  gpu: string;
  model: string | null;
  status: string;
  capacity: number;
  inFlight: number;
  kvCacheUsage: number | null;
  heartbeatAt: string;
}

/** The fleet page: the fleet's history per model, and the live workers' load. */
export const FLEET = `query ($minutes: Int!) {
  fleetHistory(minutes: $minutes) { model points { at requestsPerSecond tokensPerSecond queued } }
  workers { id host gpu model status capacity inFlight kvCacheUsage heartbeatAt }
}`;

/** A batch's progress curve: requests run over time, and where it should end. */
export interface ProgressCurve {
  startedAt: string | null;
  total: number;
  estimatedCompletionAt: string | null;
  points: { at: string; finished: number; failed: number }[];
}

export const PROGRESS_CURVE = `query ($id: ID!) { batch(id: $id) {
  status progressCurve { startedAt total estimatedCompletionAt points { at finished failed } }
} }`;
