// Live updates pushed by the WebSocket pool (docs/POOL.md): a subscriber connection that
// follows the `runs` channel of the key's tenant. Each event marks that run's queries (and
// the lists) stale, so they are read again at once; while connected nothing polls.

export interface PoolEvent {
  run_id?: string;
  type?: string;
}

export interface PoolFeedOptions {
  urls: string[];
  token: string;
  /** Called with the run ids events arrived for (batched). */
  onEvents: (runIds: string[]) => void;
  /** Connected and subscribed (true), or not (false: poll). */
  onLive: (live: boolean) => void;
  /** For tests: the WebSocket class. */
  socket?: typeof WebSocket;
}

const MAX_BACKOFF_MS = 30_000;
const BATCH_MS = 200;

/** Follow the pool until the returned function is called; reconnects with backoff, and
 * resumes after the last position seen. A refused credential (1008) stops it. */
export function followPool(options: PoolFeedOptions): () => void {
  const Socket = options.socket ?? WebSocket;
  let socket: WebSocket | null = null;
  let stopped = false;
  let attempt = 0;
  let after: string | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let flush: ReturnType<typeof setTimeout> | undefined;
  const pending = new Set<string>();

  let lastDelivery = -Infinity;
  const deliver = () => {
    lastDelivery = Date.now();
    const ids = [...pending];
    pending.clear();
    if (ids.length > 0) options.onEvents(ids);
  };
  const send = (message: Record<string, unknown>) =>
    socket?.send(JSON.stringify({ v: 1, ...message }));

  const connect = () => {
    const url = options.urls[attempt % options.urls.length];
    if (!url) return;
    const ws = new Socket(url);
    socket = ws;
    ws.onopen = () => send({ type: "hello", token: options.token, role: "subscriber" });
    ws.onmessage = (message: MessageEvent) => {
      let data: { type?: string; position?: string; nonce?: string; event?: PoolEvent };
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (data.type === "registered") {
        send(after ? { type: "subscribe", channel: "runs", after } : { type: "subscribe", channel: "runs" });
      } else if (data.type === "subscribed") {
        attempt = 0;
        options.onLive(true);
      } else if (data.type === "ping") {
        send({ type: "pong", nonce: data.nonce ?? "" });
      } else if (data.type === "event") {
        if (data.position) after = data.position;
        if (data.event?.run_id) pending.add(data.event.run_id);
        if (flush === undefined) {
          // At most one delivery each BATCH_MS (each makes the page read the API again):
          // the first event after a quiet spell goes at once (a step shown as it ends),
          // those that follow within BATCH_MS together when it is over.
          const wait = lastDelivery + BATCH_MS - Date.now();
          if (wait <= 0) deliver();
          else
            flush = setTimeout(() => {
              flush = undefined;
              deliver();
            }, wait);
        }
      }
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      options.onLive(false);
      if (stopped || event.code === 1008) return;
      attempt += 1;
      const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 6));
      retry = setTimeout(connect, wait);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    clearTimeout(flush);
    socket?.close(1000);
    socket = null;
  };
}
