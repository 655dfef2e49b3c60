/** A FIFO that also takes items at its front (preempted requests), with lazy removal. */
export interface WaitingQueue<T> {
  push(item: T): void;
  prepend(item: T): void;
  /** The first live item, or undefined. */
  peek(): T | undefined;
  shift(): T | undefined;
  /** Counts one live item as gone; it stays in the array until it reaches the head. */
  forget(): void;
  readonly size: number;
}

/**
 * Creates the queue. An aborted item is only marked (`isLive` turns false) and skipped when it
 * reaches the head, so aborting one of a thousand waiting requests costs nothing.
 */
export function createWaitingQueue<T>(isLive: (item: T) => boolean): WaitingQueue<T> {
  let items: T[] = [];
  let head = 0;
  let size = 0;
  const skipDead = () => {
    while (head < items.length && !isLive(items[head] as T)) head++;
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  };
  return {
    push(item) {
      items.push(item);
      size++;
    },
    prepend(item) {
      if (head > 0) items[--head] = item;
      else items.unshift(item);
      size++;
    },
    peek() {
      skipDead();
      return items[head];
    },
    shift() {
      skipDead();
      if (head >= items.length) return undefined;
      size--;
      return items[head++];
    },
    forget() {
      size--;
    },
    get size() {
      return size;
    },
  };
}
