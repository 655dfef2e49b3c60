import type { ModelDemand } from '../../schema/index.ts';

/** What {@link chooseModel} decides from. */
export interface ModelChoiceInput {
  /** The model loaded now, or null before the first start. */
  current: string | null;
  demand: readonly ModelDemand[];
  /** How long the worker has had nothing to do and found nothing queued for its model. */
  idleForMs: number;
  /** How long the current model has been loaded. */
  servedForMs: number;
  /** Idle this long before switching to another model with queued work. */
  idleSwitchMs: number;
  /**
   * The fairness bound: a model nobody serves whose oldest queued request has waited this
   * long may take the GPU from a model that still has work, once that model has had the
   * GPU this long.
   */
  fairnessMs: number;
}

const byNeed = (a: ModelDemand, b: ModelDemand) => a.servingWorkers - b.servingWorkers || b.waitedMs - a.waitedMs || b.queued - a.queued;

/**
 * Decides which model an engine-owning worker should load, or null to keep the current
 * one. First start: the model with queued work that fewest workers serve (else the first
 * enabled one). Idle for its model while another enabled model has queued work: switch to
 * the neediest. Busy: switch only for a model that nobody serves and that has waited past
 * the fairness bound, and only after the current model has had the GPU that long.
 */
export function chooseModel({ current, demand, idleForMs, servedForMs, idleSwitchMs, fairnessMs }: ModelChoiceInput): ModelDemand | null {
  const waiting = demand.filter((m) => m.name !== current && m.queued > 0).sort(byNeed);
  const best = waiting[0];
  if (current === null) return best ?? demand[0] ?? null;
  if (!best) return null;
  const stillEnabled = demand.some((m) => m.name === current);
  if (idleForMs >= idleSwitchMs || (!stillEnabled && idleForMs > 0)) return best;
  if (best.servingWorkers === 0 && best.waitedMs >= fairnessMs && servedForMs >= fairnessMs) return best;
  return null;
}
