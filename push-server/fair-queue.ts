/**
 * A FIFO per source (one per access-server link) served round robin, so
 * that one busy access server cannot starve the others: each `shift` takes
 * the head of the next source that has anything waiting. No bound of its
 * own; the owner charges a shared budget before it pushes.
 */
export class FairQueue<T> {
  private readonly lanes = new Map<number, T[]>();
  /** Sources with something waiting, in serving order. */
  private readonly ring: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Appends `item` to the lane of `source`. */
  push(source: number, item: T): void {
    this.lane(source).push(item);
    this.count++;
  }

  /** Puts `item` back at the head of its lane (an attempt that is due again goes before newer work). */
  unshift(source: number, item: T): void {
    this.lane(source).unshift(item);
    this.count++;
  }

  /** The head of the next source's lane; undefined when empty. */
  shift(): T | undefined {
    const source = this.ring.shift();
    if (source === undefined) return undefined;
    const lane = this.lanes.get(source)!;
    const item = lane.shift()!;
    this.count--;
    if (lane.length > 0) this.ring.push(source);
    else this.lanes.delete(source);
    return item;
  }

  /** Empties the queue, returning what waited (in no particular order). */
  drain(): T[] {
    const all = [...this.lanes.values()].flat();
    this.lanes.clear();
    this.ring.length = 0;
    this.count = 0;
    return all;
  }

  private lane(source: number): T[] {
    let lane = this.lanes.get(source);
    if (!lane) {
      lane = [];
      this.lanes.set(source, lane);
      this.ring.push(source);
    }
    return lane;
  }
}
