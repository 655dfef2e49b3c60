import { TOPICS, type WorkerEvent as BusWorkerEvent } from '../../../core/events/index.ts';
import { streamTopic } from '../../subscriptions/topic-stream.ts';
import type { Builder } from '../builder.ts';

const KINDS = {
  'worker.up': 'UP',
  'worker.down': 'DOWN',
  'worker.model_switch': 'MODEL_SWITCH',
  'worker.heartbeat_lost': 'HEARTBEAT_LOST',
} as const;

/** Something that happened to a worker of the fleet. */
export interface WorkerEvent {
  kind: (typeof KINDS)[keyof typeof KINDS];
  workerId: string;
  host: string;
  gpu: string;
  model: string | null;
  previousModel: string | null;
  at: Date;
}

/** Adds `Subscription.workerEvents` and its `WorkerEvent` type. */
export function defineWorkerEvents(builder: Builder): void {
  const KindRef = builder.enumType('WorkerEventKind', {
    description: 'What happened to a worker.',
    values: {
      UP: { description: 'The worker started and registered.' },
      DOWN: { description: 'The worker stopped (drained, or exited).' },
      MODEL_SWITCH: { description: 'The worker switched its engine to another model.' },
      HEARTBEAT_LOST: { description: 'The worker stopped heartbeating; its leases go back to the queue.' },
    } as const,
  });
  const WorkerEventRef = builder.objectRef<WorkerEvent>('WorkerEvent').implement({
    description: 'Something that happened to a worker of the fleet.',
    fields: (t) => ({
      kind: t.expose('kind', { type: KindRef }),
      workerId: t.exposeID('workerId'),
      host: t.exposeString('host'),
      gpu: t.exposeString('gpu'),
      model: t.exposeString('model', { nullable: true }),
      previousModel: t.exposeString('previousModel', { nullable: true }),
      at: t.expose('at', { type: 'DateTime' }),
    }),
  });

  builder.subscriptionField('workerEvents', (t) =>
    t.field({
      type: WorkerEventRef,
      description: 'Workers of the whole fleet coming up, going down, switching models and losing their heartbeat. Never completes.',
      subscribe: (_root, _args, { bus, metrics }) =>
        streamTopic<WorkerEvent>({
          bus,
          metrics,
          topic: TOPICS.workers,
          subscription: 'workerEvents',
          map: (event) => {
            if (!(event.type in KINDS)) return null;
            const e = event as BusWorkerEvent;
            return {
              kind: KINDS[e.type],
              workerId: e.workerId,
              host: e.host,
              gpu: e.gpu,
              model: e.model,
              previousModel: e.previousModel ?? null,
              at: new Date(e.at),
            };
          },
        }),
      resolve: (event) => event,
    }),
  );
}
