// The API of @warden/node. The wire types (ExecConfig, Grants, Hints,
// ErrorBody, Receipt, Decision, MetricsSnapshot, …) are generated from
// warden-api's Rust types into ./api.d.ts; only the JS-friendly shapes
// around them are written here.
import type {
  Ceiling,
  CompileReport,
  Decision,
  ErrorBody,
  ErrorCode,
  ExecConfig,
  ExecutionReport,
  Grants,
  Hints,
  JobState,
  JobStatus as WireJobStatus,
  LogLine,
  MetricsSnapshot,
  PluginDescription,
  Receipt,
  RuntimeStatus,
} from './api.js';

export type * from './api.js';

/** A language name (aliases such as `javascript` and `typescript` are accepted too). */
export type LanguageName =
  | 'js' | 'ts' | 'python' | 'rust' | 'c' | 'wasm'
  | 'javascript' | 'typescript' | 'py' | 'rs' | 'ebpf';

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An error with warden's stable code. */
export declare class WardenError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
}

/** What `Warden.create` takes. */
export interface WardenOptions {
  /** The host: compile cache, engine (pool sizes, fuel), kv backend, built-in host functions. */
  host?: {
    cache_dir?: string | null;
    engine?: Record<string, unknown>;
    kv?: { backend: 'memory' } | { backend: 'dir'; path: string };
    host_fns?: Array<'echo' | 'now'>;
  };
  /** Which runtimes, and the controller's settings (`max_in_flight`, `queue_capacity`, `ceiling`, …). */
  runtimes?: {
    controller?: {
      max_in_flight?: number;
      queue_capacity?: number;
      ceiling?: Ceiling;
      [key: string]: unknown;
    };
    js?: boolean;
    python?: boolean;
    rust?: { rustc: string[]; [key: string]: unknown } | null;
    ebpf?: 'in-process' | { sidecar: string } | null;
    warm_up?: boolean;
  };
  /** Async JS functions a guest may call (`warden:plugin/host`) when its grants name them. */
  hostFunctions?: HostFunctions;
  /** Every event a guest emits. */
  onEvent?: (topic: string, payload: unknown, plugin: string) => void;
  /** Every line a guest logs, as it is written (granted `log` only). */
  onLog?: (level: string, message: string, plugin: string) => void;
}

/** Host functions by name: called with the guest's JSON arguments; what they return (or resolve to) goes back as JSON, a throw reaches the guest as its `HostError`. */
export type HostFunctions = Record<string, (args: any) => unknown | Promise<unknown>>;

/** One call. */
export interface ExecuteRequest {
  /** Source text, or component / object bytes. */
  code: string | Uint8Array;
  language: LanguageName;
  /** JSON input (default `{}`). */
  input?: unknown;
  /** Call one export of a component with WAVE arguments instead: `add(1, 2)`. */
  invoke?: string;
  config?: ExecConfig;
  hints?: Hints;
  /** Run on this runtime rather than the one the scheduler picks. */
  runtime?: string;
  /** Aborting stops the guest within an epoch tick; the execution is `CANCELLED`. */
  signal?: AbortSignal;
  /**
   * This call's own host functions, visible to it alone (two tenants'
   * callbacks never mix); they shadow the `Warden`'s of the same name. The
   * grant (`config.grants.host_fns`) still decides which names it may call.
   */
  hostFunctions?: HostFunctions;
}

/** What one call gave, whatever happened. */
export interface Execution<TOutput = unknown> {
  ok: boolean;
  output?: TOutput;
  error?: ErrorBody;
  runtime?: string;
  decision?: Decision;
  compile?: CompileReport;
  timings: { queuedUs: number; executionUs: number; totalUs: number };
  memoryBytes: number;
  receipt: Receipt;
  stdout: string;
  stderr: string;
  logs: LogLine[];
  /** The wire form, as the server and the workers send it. */
  report: ExecutionReport;
}

/** The result of `callJson`. */
export type Result<T> =
  | { ok: true; value: T; execution: Execution<T> }
  | { ok: false; error: ErrorBody; execution: Execution<T> };

export interface CallOptions {
  /** Default `ts` (JavaScript is valid TypeScript). */
  language?: LanguageName;
  config?: ExecConfig;
  hints?: Hints;
  runtime?: string;
  signal?: AbortSignal;
  /** This call's own host functions (see `ExecuteRequest.hostFunctions`). */
  hostFunctions?: HostFunctions;
}

/** The config shape of the runtime controller warden replaces. */
export interface LegacyConfig {
  timeout?: number;
  memoryLimit?: number;
  permissions?: { capabilities?: string[] };
  [key: string]: unknown;
}

export interface ModuleHandle {
  id: string;
  decision: Decision;
  compile: CompileReport;
}

export interface JobStatus extends Omit<WireJobStatus, 'execution'> {
  state: JobState;
  execution?: Execution | null;
}

/** `Exports` with every function returning a promise. */
export type Typed<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<R>
    : { [F in keyof T[K]]: T[K][F] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never };
};

export declare class Warden {
  private constructor();
  static create(options?: WardenOptions): Promise<Warden>;
  /** Pre-warm every runtime; the ones that failed, by name. */
  start(): Promise<Record<string, WardenError>>;
  close(): Promise<void>;
  execute<TOutput = unknown>(request: ExecuteRequest): Promise<Execution<TOutput>>;
  callJson<TInput = unknown, TOutput = unknown>(
    code: string,
    input: TInput,
    options?: CallOptions,
  ): Promise<Result<TOutput>>;
  executeWithScheduler(
    code: string | Uint8Array,
    language: LanguageName,
    config?: ExecConfig | LegacyConfig,
    hints?: Hints,
  ): Promise<Execution>;
  compile(code: string | Uint8Array, language: LanguageName, options?: { hints?: Hints; runtime?: string }): Promise<ModuleHandle>;
  instantiate(moduleId: string, config?: ExecConfig): string;
  executeInstance<TOutput = unknown>(instanceId: string, input: unknown): Promise<Execution<TOutput>>;
  destroy(instanceId: string): void;
  dropModule(moduleId: string): void;
  submit(request: Omit<ExecuteRequest, 'signal'>): string;
  job(id: string): JobStatus;
  wait(id: string): Promise<JobStatus>;
  cancel(id: string): JobState;
  runtimes(): Promise<RuntimeStatus[]>;
  startRuntime(name: string): Promise<void>;
  stopRuntime(name: string): Promise<void>;
  metrics(): MetricsSnapshot;
  prometheus(): string;
  inspect(plugin: string | Uint8Array, grants?: Grants): Promise<PluginDescription>;
  /** TypeScript declarations of a component's exports (`export interface Exports`), from its WIT. */
  types(plugin: string | Uint8Array): Promise<string>;
  /** Call a component's exports with JSON values, typed by the `Exports` that `types()` generated. */
  typed<T>(plugin: string | Uint8Array, config?: ExecConfig): Promise<Typed<T>>;
}

declare const _default: { Warden: typeof Warden; WardenError: typeof WardenError };
export default _default;
