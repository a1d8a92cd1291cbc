import { followPool } from "../api/pool";

/** A WebSocket stand-in the test speaks for the pool node through. */
class FakeSocket {
  static made: FakeSocket[] = [];
  sent: Record<string, unknown>[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.made.push(this);
    setTimeout(() => this.onopen?.(), 0);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.onclose?.({ code: 1000 });
  }
  receive(message: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify({ v: 1, ...message }) });
  }
}

describe("the pool's feed", () => {
  beforeEach(() => {
    FakeSocket.made = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it("says hello with the key, follows runs, passes an event on at once and batches a burst", async () => {
    const live: boolean[] = [];
    const batches: string[][] = [];
    const stop = followPool({
      urls: ["ws://pool"],
      token: "acc_key",
      onLive: (on) => live.push(on),
      onEvents: (ids) => batches.push(ids.sort()),
      socket: FakeSocket as unknown as typeof WebSocket,
    });
    await vi.advanceTimersByTimeAsync(1);
    const ws = FakeSocket.made[0]!;
    expect(ws.sent[0]).toEqual({ v: 1, type: "hello", token: "acc_key", role: "subscriber" });
    ws.receive({ type: "registered" });
    expect(ws.sent[1]).toEqual({ v: 1, type: "subscribe", channel: "runs" });
    ws.receive({ type: "subscribed", channel: "runs" });
    expect(live).toEqual([true]);
    ws.receive({ type: "ping", nonce: "n1" });
    expect(ws.sent[2]).toEqual({ v: 1, type: "pong", nonce: "n1" });
    ws.receive({ type: "event", channel: "runs", position: "0:1", event: { run_id: "a" } });
    ws.receive({ type: "event", channel: "runs", position: "0:2", event: { run_id: "b" } });
    ws.receive({ type: "event", channel: "runs", position: "0:3", event: { run_id: "a" } });
    ws.receive({ type: "event", channel: "runs", position: "0:4", event: { run_id: "c" } });
    // The first at once, the rest of the burst together once it is over.
    expect(batches).toEqual([["a"]]);
    await vi.advanceTimersByTimeAsync(250);
    expect(batches).toEqual([["a"], ["a", "b", "c"]]);
    await vi.advanceTimersByTimeAsync(200); // quiet again
    ws.receive({ type: "event", channel: "runs", position: "0:5", event: { run_id: "d" } });
    expect(batches).toEqual([["a"], ["a", "b", "c"], ["d"]]);
    await vi.advanceTimersByTimeAsync(50);
    ws.receive({ type: "event", channel: "runs", position: "0:6", event: { run_id: "e" } });
    expect(batches).toHaveLength(3); // not twice within 200 ms
    await vi.advanceTimersByTimeAsync(160);
    expect(batches).toEqual([["a"], ["a", "b", "c"], ["d"], ["e"]]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches).toHaveLength(4); // nothing more came: nothing more to pass on
    stop();
    expect(live).toEqual([true, false]);
  });

  it("reconnects after a drop and resumes after the last position; a refused key stops it", async () => {
    const live: boolean[] = [];
    followPool({
      urls: ["ws://one", "ws://two"],
      token: "acc_key",
      onLive: (on) => live.push(on),
      onEvents: () => {},
      socket: FakeSocket as unknown as typeof WebSocket,
    });
    await vi.advanceTimersByTimeAsync(1);
    const first = FakeSocket.made[0]!;
    first.receive({ type: "registered" });
    first.receive({ type: "subscribed", channel: "runs" });
    first.receive({ type: "event", channel: "runs", position: "0:7", event: { run_id: "a" } });
    first.onclose?.({ code: 1006 });
    expect(live).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(2000);
    const second = FakeSocket.made[1]!;
    expect(second.url).toBe("ws://two");
    second.receive({ type: "registered" });
    expect(second.sent[1]).toEqual({ v: 1, type: "subscribe", channel: "runs", after: "0:7" });
    second.onclose?.({ code: 1008 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.made).toHaveLength(2);
  });
});
