// Type declarations for herald.js, the herald JavaScript client.

/** A stored document: the server owns id, version, createdAt and updatedAt. */
export interface Doc {
  id: string;
  version: number;
  /** RFC 3339 UTC with milliseconds. */
  createdAt: string;
  updatedAt: string;
  [field: string]: unknown;
}

/** A change event from the log. */
export interface HeraldEvent<D = Doc> {
  /** Global sequence number: strictly increasing, gap-free on one node. */
  seq: number;
  collection: string;
  /** 'created' | 'updated' | 'deleted', or a custom type published with POST /api/_events. */
  type: 'created' | 'updated' | 'deleted' | (string & {});
  id?: string;
  version?: number;
  ts: string;
  /** The document (null for 'deleted'); absent with payload 'minimal'. */
  data?: D | null;
}

/** RFC 9457 problem fields. status 0 means the request never got an answer (network error). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

export class HeraldError extends Error implements Problem {
  constructor(problem?: Partial<Problem>, options?: { cause?: unknown; headers?: Headers });
  readonly name: 'HeraldError';
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Response headers, when the server answered. */
  readonly headers?: Headers;
  /** True for 412 Precondition Failed (If-Match / If-None-Match). */
  readonly isConflict: boolean;
  [extension: string]: unknown;
}

/** An entity tag: a version number, a document (its version), a tag string, or '*'. */
export type ETagLike = number | string | { version: number };

/** The entity tag for a version, document or tag (`3` → `"3"`). */
export function etag(v: ETagLike | undefined | null): string | undefined;

export type Transport = 'websocket' | 'sse' | 'poll';
export type Status = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StatusDetail {
  /** The transport in use (set when open). */
  transport: Transport | null;
  /** reconnecting: milliseconds until the next attempt. */
  delay?: number;
  /** connecting / reconnecting: how many retries so far since the last stable connection. */
  attempt?: number;
  /** reconnecting / closed: what went wrong, when known. */
  error?: unknown;
}

export interface ResetInfo {
  /** 'behind': the server no longer retains the events after our resume point;
   *  'epoch': the server's database changed (another epoch). */
  reason: 'behind' | 'epoch';
  oldest: number | null;
  head: number | null;
  transport?: Transport;
  epoch?: string;
  since?: number | null;
}

export interface Filter {
  /** Collections to follow (default: all). A string may be comma-separated. */
  collections?: string[] | string;
  /** Event types to follow (default: all). */
  types?: string[] | string;
  /** One document id. */
  id?: string;
  /** 'minimal' leaves the document out of events. */
  payload?: 'full' | 'minimal';
  /** Deliver events with seq > since, then live. Default: live only. 0: from the oldest retained. */
  since?: number;
}

export interface SubscribeOptions {
  onStatus?: (status: Status, detail: StatusDetail) => void;
  /** The server could not resume from our position: refetch whatever state you derive from events. */
  onReset?: (info: ResetInfo) => void;
  /** A permanent failure (e.g. the server rejected the filter); the subscription is closed. */
  onError?: (error: HeraldError | Error) => void;
}

/** Call to unsubscribe. Also exposes the subscription's state. */
export interface Unsubscribe {
  (): void;
  readonly status: Status | 'idle';
  readonly transport: Transport | null;
  /** The seq of the last delivered event (or the head it started live from); the resume point. */
  readonly lastSeq: number | null;
  /** How many events were dropped as duplicates. */
  readonly duplicates: number;
  /** Skip the remaining backoff delay and reconnect now. */
  reconnect(): void;
}

export interface ListOptions {
  /** 1–1000, default 100. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string;
  /** 'field' or '-field'. */
  sort?: string;
  /** Equality on top-level fields: filter[field]=value. */
  filter?: Record<string, string | number | boolean>;
  signal?: AbortSignal;
}

export interface Page<D = Doc> {
  items: D[];
  next: string | null;
  /** The seq the snapshot was read at: subscribe with since = head to miss nothing. */
  head: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ChangesParams extends Omit<Filter, 'since'> {
  since?: number;
  /** Long-poll: seconds to wait for an event (≤ 60). */
  wait?: number;
  limit?: number;
  signal?: AbortSignal;
}

export interface Changes<D = Doc> {
  events: HeraldEvent<D>[];
  next: number;
  head: number;
  reset: boolean;
  oldest?: number;
}

export type Change<D = Doc> =
  | { type: 'snapshot' }
  | { type: 'created' | 'updated' | 'deleted'; id: string; event: HeraldEvent<D> };

export interface LiveQueryOptions {
  /** Equality on top-level fields, applied by the server on list and locally on events. */
  filter?: Record<string, string | number | boolean>;
  /** 'field' or '-field'; new and changed documents are placed in this order. */
  sort?: string;
  /** Page size of the initial list (default 100). */
  limit?: number;
  onStatus?: SubscribeOptions['onStatus'];
  onError?: SubscribeOptions['onError'];
  /** Every event of the collection, before it is applied. */
  onEvent?: (event: HeraldEvent) => void;
}

export interface LiveQuery<D = Doc> {
  /** A copy of the current documents. */
  readonly items: D[];
  readonly status: Status;
  readonly transport: Transport | null;
  /** Resolves with the first snapshot. */
  readonly ready: Promise<D[]>;
  /** List again and resubscribe from the new head. */
  refresh(): Promise<void>;
  close(): void;
}

export interface Collection<D = Doc> {
  readonly name: string;
  create(doc: Record<string, unknown>, opts?: RequestOptions & { id?: string; idempotencyKey?: string }): Promise<D>;
  /** Resolves to null when ifNoneMatch matched (304). Throws HeraldError 404 when missing. */
  get(id: string, opts?: RequestOptions & { ifNoneMatch?: ETagLike }): Promise<D | null>;
  list(opts?: ListOptions): Promise<Page<D>>;
  listAll(opts?: Omit<ListOptions, 'after'> & { maxPages?: number }): Promise<{ items: D[]; head: number }>;
  replace(id: string, doc: Record<string, unknown>, opts?: RequestOptions & { ifMatch?: ETagLike; ifNoneMatch?: '*' | ETagLike }): Promise<D>;
  /** RFC 7396 merge patch: null removes a member. */
  patch(id: string, patch: Record<string, unknown>, opts?: RequestOptions & { ifMatch?: ETagLike }): Promise<D>;
  remove(id: string, opts?: RequestOptions & { ifMatch?: ETagLike }): Promise<void>;
  changes(params?: Omit<ChangesParams, 'collections'>): Promise<Changes<D>>;
  subscribe(filter: Omit<Filter, 'collections'> | null, onEvent: (event: HeraldEvent<D>, meta: { transport: Transport }) => void, opts?: SubscribeOptions): Unsubscribe;
  liveQuery(opts: LiveQueryOptions, onChange?: (items: D[], change: Change<D>) => void): LiveQuery<D>;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface ClientOptions {
  fetch?: typeof fetch;
  /** A WebSocket class (browser-compatible API: onopen/onmessage/onclose, send, close), e.g. `ws` in Node 20. */
  WebSocket?: unknown;
  /** An EventSource class. When given, SSE uses it for subscriptions that name their collections; otherwise SSE is read with fetch streams. */
  EventSource?: unknown;
  /** Extra headers on every HTTP request. */
  headers?: Record<string, string>;
  /** Real-time transports in order of preference. Default ['websocket', 'sse', 'poll']. */
  transports?: Transport[];
  /** Reconnect backoff: delay = random() × min(max, initial × factor^attempt). */
  backoff?: { initial?: number; factor?: number; max?: number; stableAfter?: number };
  /** Random source in [0, 1) for the jitter. */
  random?: () => number;
  /** Time source and timers (for tests). */
  clock?: Partial<Clock>;
  /** Milliseconds a transport may take to open (default 10000). */
  connectTimeout?: number;
  /** WebSocket liveness ping interval and answer timeout (25000, 10000). */
  pingInterval?: number;
  pongTimeout?: number;
  /** Reconnect an SSE stream silent for this long (45000; the server sends a heartbeat every 15 s). */
  sseIdleTimeout?: number;
  /** Long-poll wait in seconds (25) and page size (100). */
  pollWait?: number;
  pollLimit?: number;
  /** Errors thrown by your callbacks (default: console.error). */
  onError?: (error: unknown) => void;
}

export interface HeraldClient {
  readonly baseUrl: string;
  collection<D = Doc>(name: string): Collection<D>;
  subscribe(filter: Filter | null, onEvent: (event: HeraldEvent, meta: { transport: Transport }) => void, opts?: SubscribeOptions): Unsubscribe;
  liveQuery<D = Doc>(collection: string, opts: LiveQueryOptions, onChange?: (items: D[], change: Change<D>) => void): LiveQuery<D>;
  liveQuery<D = Doc>(collection: string, onChange: (items: D[], change: Change<D>) => void): LiveQuery<D>;
  /** GET /api. */
  collections(): Promise<{ collections: { name: string; count: number }[]; head: number }>;
  /** GET /healthz. */
  health(): Promise<{ status: string; head: number; epoch: string }>;
  /** POST /api/_events: a custom event. */
  publish(collection: string, type: string, data?: unknown): Promise<{ seq: number }>;
  /** One (long-)poll of GET /api/_changes. */
  changes(params?: ChangesParams): Promise<Changes>;
  /** Any request; throws HeraldError for status ≥ 400. */
  request(
    method: string,
    path: string,
    opts?: RequestOptions & { body?: unknown; query?: Record<string, string | number | undefined>; contentType?: string },
  ): Promise<{ status: number; headers: Headers; body: any }>;
  /** The backoff delay for retry number `attempt` (0-based). */
  backoffDelay(attempt: number): number;
  /** Close every subscription. */
  close(): void;
}

/** baseUrl defaults to the page's origin in a browser. */
export function createClient(baseUrl?: string | URL, options?: ClientOptions): HeraldClient;
export function createClient(options: ClientOptions): HeraldClient;
export default createClient;
